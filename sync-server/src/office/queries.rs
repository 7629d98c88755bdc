//! The SQL behind the back office's lists and alerts.
//!
//! Lists page by key (`updated_at`, `id`), never by offset, so the hundredth
//! page costs what the first does; every filter has an index that is ordered
//! like the list (migration V3). Days are China Standard Time (UTC+8), the
//! fleet's time zone.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params_from_iter};

use crate::db::DbError;

/// The fleet's offset from UTC, in seconds.
const CST: i64 = 8 * 3600;

/// `YYYY-MM-DD HH:MM` (UTC+8) of a Unix time in seconds.
pub fn format_time(seconds: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(seconds + CST) else { return String::new() };
    format!("{} {:02}:{:02}", t.date(), t.hour(), t.minute())
}

/// The day (UTC+8, `YYYY-MM-DD`) a Unix time falls on.
pub fn day_of(seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds + CST).map(|t| t.date().to_string()).unwrap_or_default()
}

/// The Unix time at which a day (`YYYY-MM-DD`, UTC+8) starts, if it is a date.
pub fn day_start(day: &str) -> Option<i64> {
    let date = posfield_shared::CalendarDate::parse(day.trim()).ok()?;
    let (y, m, d) = date.ymd();
    let date = time::Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp() - CST)
}

/// The day `days` after `day` (`YYYY-MM-DD`).
pub fn add_days(day: &str, days: i64) -> String {
    day_start(day).map(|s| day_of(s + days * 86_400)).unwrap_or_default()
}

/// Whole days from `from` to `to` (both `YYYY-MM-DD`).
pub fn days_between(from: &str, to: &str) -> Option<i64> {
    Some((day_start(to)? - day_start(from)?) / 86_400)
}

/// The visit list's filters; empty strings mean "any".
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct VisitFilter {
    /// Status code.
    pub status: String,
    /// Kind code.
    pub kind: String,
    /// Assigned agent (exact).
    pub agent: String,
    /// Part of the merchant's name or its merchant number.
    pub merchant: String,
    /// Start of the terminal serial.
    pub serial: String,
    /// First day (`YYYY-MM-DD`) of the last change.
    pub from: String,
    /// Last day (`YYYY-MM-DD`) of the last change.
    pub to: String,
    /// The key after which the page starts: `updated_at:id`.
    pub after: String,
}

impl VisitFilter {
    /// The filter as a query string (without `after`), for links.
    pub fn query(&self) -> String {
        let pairs = [
            ("status", &self.status),
            ("kind", &self.kind),
            ("agent", &self.agent),
            ("merchant", &self.merchant),
            ("serial", &self.serial),
            ("from", &self.from),
            ("to", &self.to),
        ];
        pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", url_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Percent-encodes a query value.
pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One row of the visit list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitRow {
    /// Visit id.
    pub id: String,
    /// Kind code.
    pub kind: String,
    /// Status code.
    pub status: String,
    /// Merchant name.
    pub merchant: String,
    /// Merchant number.
    pub merchant_number: Option<String>,
    /// Terminal serial.
    pub serial: Option<String>,
    /// Assigned agent.
    pub assignee: String,
    /// Created (Unix seconds).
    pub created_at: i64,
    /// Last change (Unix seconds).
    pub updated_at: i64,
    /// Photos not yet received.
    pub blobs_missing: i64,
}

const VISIT_COLUMNS: &str =
    "id, kind, status, merchant, merchant_number, serial, assignee, created_at, updated_at, blobs_missing";

fn visit_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<VisitRow> {
    Ok(VisitRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        status: r.get(2)?,
        merchant: r.get(3)?,
        merchant_number: r.get(4)?,
        serial: r.get(5)?,
        assignee: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
        blobs_missing: r.get(9)?,
    })
}

fn like_pattern(text: &str) -> String {
    let escaped: String = text
        .chars()
        .flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] })
        .collect();
    format!("%{escaped}%")
}

/// A page of visits matching `filter`, newest change first, and the key
/// of the next page if there is one.
pub fn visits(
    conn: &Connection,
    filter: &VisitFilter,
    limit: usize,
) -> Result<(Vec<VisitRow>, Option<String>), DbError> {
    let mut sql = format!("SELECT {VISIT_COLUMNS} FROM visits WHERE 1 = 1");
    let mut args: Vec<Value> = Vec::new();
    let mut text = |sql: &mut String, clause: &str, value: String| {
        sql.push_str(clause);
        args.push(Value::Text(value));
    };
    if !filter.status.is_empty() {
        text(&mut sql, " AND status = ?", filter.status.clone());
    }
    if !filter.kind.is_empty() {
        text(&mut sql, " AND kind = ?", filter.kind.clone());
    }
    if !filter.agent.is_empty() {
        text(&mut sql, " AND assignee = ?", filter.agent.trim().to_owned());
    }
    let merchant = filter.merchant.trim();
    if !merchant.is_empty() {
        if merchant.bytes().all(|b| b.is_ascii_digit()) {
            text(&mut sql, " AND merchant_number = ?", merchant.to_owned());
        } else {
            text(&mut sql, " AND merchant LIKE ? ESCAPE '\\'", like_pattern(merchant));
        }
    }
    let serial = filter.serial.trim().to_ascii_uppercase();
    if !serial.is_empty() {
        text(&mut sql, " AND serial >= ?", serial.clone());
        text(&mut sql, " AND serial < ?", format!("{serial}\u{10FFFF}"));
    }
    let mut number = |sql: &mut String, clause: &str, value: i64| {
        sql.push_str(clause);
        args.push(Value::Integer(value));
    };
    if let Some(from) = day_start(&filter.from) {
        number(&mut sql, " AND updated_at >= ?", from);
    }
    if let Some(to) = day_start(&filter.to) {
        number(&mut sql, " AND updated_at < ?", to + 86_400);
    }
    if let Some((at, id)) = filter.after.split_once(':')
        && let Ok(at) = at.parse::<i64>()
    {
        sql.push_str(" AND (updated_at < ? OR (updated_at = ? AND id > ?))");
        args.extend([Value::Integer(at), Value::Integer(at), Value::Text(id.to_owned())]);
    }
    sql.push_str(" ORDER BY updated_at DESC, id LIMIT ?");
    args.push(Value::Integer(limit as i64 + 1));
    let mut statement = conn.prepare_cached(&sql)?;
    let mut rows = statement.query_map(params_from_iter(args), visit_row)?.collect::<Result<Vec<_>, _>>()?;
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| format!("{}:{}", r.updated_at, r.id))
    } else {
        None
    };
    Ok((rows, next))
}

/// The visits of one terminal, newest first.
pub fn terminal_visits(conn: &Connection, serial: &str) -> Result<Vec<VisitRow>, DbError> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {VISIT_COLUMNS} FROM visits WHERE serial = ?1 ORDER BY updated_at DESC, id LIMIT 200"
    ))?;
    Ok(statement.query_map([serial], visit_row)?.collect::<Result<Vec<_>, _>>()?)
}

/// One terminal as the back office knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TerminalRow {
    /// Serial.
    pub serial: String,
    /// Current merchant.
    pub merchant: String,
    /// Merchant number.
    pub merchant_number: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Manufacturer.
    pub manufacturer: Option<String>,
    /// TerminalState code, when registered.
    pub state: Option<String>,
    /// Production date.
    pub production_date: Option<String>,
    /// Warranty end.
    pub warranty_end: Option<String>,
    /// SIM ICCID.
    pub sim_iccid: Option<String>,
    /// SIM carrier code.
    pub sim_carrier: Option<String>,
    /// SIM expiry.
    pub sim_expiry: Option<String>,
    /// The last visit's id.
    pub last_visit: Option<String>,
}

const FLEET_COLUMNS: &str = "serial, merchant, merchant_number, model, manufacturer, state, production_date, \
     warranty_end, sim_iccid, sim_carrier, sim_expiry, last_visit";

fn terminal_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TerminalRow> {
    Ok(TerminalRow {
        serial: r.get(0)?,
        merchant: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
        merchant_number: r.get(2)?,
        model: r.get(3)?,
        manufacturer: r.get(4)?,
        state: r.get(5)?,
        production_date: r.get(6)?,
        warranty_end: r.get(7)?,
        sim_iccid: r.get(8)?,
        sim_carrier: r.get(9)?,
        sim_expiry: r.get(10)?,
        last_visit: r.get(11)?,
    })
}

/// The fleet's columns over `terminal_register r LEFT JOIN terminals t`:
/// registered terminals, with what visits recorded preferred.
const REGISTERED: &str = "r.serial, COALESCE(t.merchant, r.merchant), r.merchant_number, r.model, r.manufacturer, \
     r.state, r.production_date, r.warranty_end, COALESCE(t.sim_iccid, r.sim_iccid), \
     COALESCE(t.sim_carrier, r.sim_carrier), COALESCE(t.sim_expiry, r.sim_expiry), t.last_visit";

/// The fleet's columns over `terminals t` alone: terminals only visits know.
const UNREGISTERED: &str = "t.serial, t.merchant, NULL, NULL, NULL, NULL, NULL, NULL, t.sim_iccid, t.sim_carrier, \
     t.sim_expiry, t.last_visit";

/// A page of terminals by serial, optionally only those whose serial starts
/// with `serial` or whose merchant contains `merchant`. Each half of the
/// fleet (registered, known from visits only) is read in serial order from
/// its primary key and cut at the page size before the two are merged.
pub fn terminals(
    conn: &Connection,
    serial: &str,
    merchant: &str,
    after: &str,
    limit: usize,
) -> Result<(Vec<TerminalRow>, Option<String>), DbError> {
    let serial = serial.trim().to_ascii_uppercase();
    let mut statement = conn.prepare_cached(&format!(
        "SELECT * FROM (SELECT {REGISTERED} FROM terminal_register r LEFT JOIN terminals t ON t.serial = r.serial
             WHERE r.serial > ?1 AND (?2 = '' OR (r.serial >= ?2 AND r.serial < ?2 || char(1114111)))
               AND (?3 = '' OR COALESCE(t.merchant, r.merchant) LIKE ?4 ESCAPE '\\')
             ORDER BY r.serial LIMIT ?5)
         UNION ALL
         SELECT * FROM (SELECT {UNREGISTERED} FROM terminals t
             WHERE t.serial > ?1 AND (?2 = '' OR (t.serial >= ?2 AND t.serial < ?2 || char(1114111)))
               AND (?3 = '' OR t.merchant LIKE ?4 ESCAPE '\\')
               AND NOT EXISTS (SELECT 1 FROM terminal_register r WHERE r.serial = t.serial)
             ORDER BY t.serial LIMIT ?5)
         ORDER BY 1 LIMIT ?5"
    ))?;
    let merchant = merchant.trim();
    let mut rows = statement
        .query_map(
            rusqlite::params![after, serial, merchant, like_pattern(merchant), limit as i64 + 1],
            terminal_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| r.serial.clone())
    } else {
        None
    };
    Ok((rows, next))
}

/// One terminal.
pub fn terminal(conn: &Connection, serial: &str) -> Result<Option<TerminalRow>, DbError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {REGISTERED} FROM terminal_register r LEFT JOIN terminals t ON t.serial = r.serial
             WHERE r.serial = ?1
             UNION ALL
             SELECT {UNREGISTERED} FROM terminals t
             WHERE t.serial = ?1 AND NOT EXISTS (SELECT 1 FROM terminal_register r WHERE r.serial = t.serial)"
        ))?
        .query_row([serial], terminal_row)
        .optional()?)
}

/// Every terminal, for the CSV export.
pub fn all_terminals(conn: &Connection) -> Result<Vec<TerminalRow>, DbError> {
    let mut statement = conn.prepare(&format!("SELECT {FLEET_COLUMNS} FROM fleet ORDER BY serial"))?;
    Ok(statement.query_map([], terminal_row)?.collect::<Result<Vec<_>, _>>()?)
}

/// A terminal with a reason to look at it, and a number (days left, age
/// in years or a count) that says how urgent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalAlert {
    /// The terminal.
    pub terminal: TerminalRow,
    /// The date the alert is about (expiry, production date, warranty end).
    pub date: String,
    /// Days left (negative: past), years of age, or repairs.
    pub figure: i64,
}

/// The first rows of an alert and how many there are in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertList<T> {
    /// The most urgent rows, at most [`ALERT_ROWS`].
    pub rows: Vec<T>,
    /// How many rows the alert has in all.
    pub total: i64,
}

/// What the alerts page shows.
#[derive(Debug, Clone)]
pub struct Alerts {
    /// SIM cards expiring within 30 days, or expired.
    pub sim_expiring: AlertList<TerminalAlert>,
    /// Terminals at or past 3 years from production.
    pub old_terminals: AlertList<TerminalAlert>,
    /// Warranty ending within 60 days.
    pub warranty_ending: AlertList<TerminalAlert>,
    /// Terminals with two or more repair visits in a year.
    pub repeated_faults: AlertList<TerminalAlert>,
    /// Reactivation applications waiting for a decision.
    pub waiting_applications: AlertList<VisitRow>,
    /// Visits whose photos have not all arrived.
    pub incomplete_blobs: AlertList<VisitRow>,
    /// Visits waiting for review.
    pub waiting_review: i64,
    /// Returned visits.
    pub returned: i64,
}

/// Each alert list shows this many rows (the most urgent first) and its total.
pub const ALERT_ROWS: usize = 20;

/// The alerts as of `today` (`YYYY-MM-DD`).
pub fn alerts(conn: &Connection, today: &str) -> Result<Alerts, DbError> {
    let in_service = "(r.state IS NULL OR r.state NOT IN ('deregistered', 'recycled', 'lost'))";
    let count = |sql: &str, args: &[&dyn rusqlite::ToSql]| -> Result<i64, DbError> {
        Ok(conn.prepare_cached(sql)?.query_row(args, |r| r.get(0))?)
    };
    // Registered terminals whose register `column` (indexed) lies in [from, to], soonest first.
    let register_alert = |column: &str, from: &str, to: &str, figure: &dyn Fn(&str) -> i64| {
        let filter = format!("r.{column} >= ?1 AND r.{column} <= ?2 AND {in_service}");
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {REGISTERED}, r.{column} FROM terminal_register r LEFT JOIN terminals t ON t.serial = r.serial
             WHERE {filter} ORDER BY r.{column}, r.serial LIMIT {ALERT_ROWS}"
        ))?;
        let rows = statement
            .query_map([from, to], |r| Ok((terminal_row(r)?, r.get::<_, String>(12)?)))?
            .map(|row| row.map(|(terminal, date)| TerminalAlert { figure: figure(&date), terminal, date }))
            .collect::<Result<Vec<_>, _>>()?;
        let total =
            count(&format!("SELECT count(*) FROM terminal_register r WHERE {filter}"), &[&from, &to])?;
        Ok::<_, DbError>(AlertList { rows, total })
    };
    let days_left = |date: &str| days_between(today, date).unwrap_or_default();
    let sim_expiring = sim_alert(conn, in_service, &add_days(today, 30), &days_left)?;
    let three_years_ago = format!("{}{}", today[..4].parse::<i32>().unwrap_or(2000) - 3, &today[4..]);
    let old_terminals = register_alert("production_date", "0000-01-01", &three_years_ago, &|date: &str| {
        days_between(date, today).unwrap_or_default() / 365
    })?;
    let warranty_ending = register_alert("warranty_end", today, &add_days(today, 60), &days_left)?;

    let year_ago = day_start(today).unwrap_or_default() - 365 * 86_400;
    // Read in serial order from the partial index of repairs, so the grouping needs no sort.
    let repeated_sql = "SELECT serial, count(*) AS repairs FROM visits INDEXED BY visits_repairs_by_serial
         WHERE kind = 'repair' AND serial IS NOT NULL AND updated_at >= ?1
         GROUP BY serial HAVING repairs >= 2";
    let mut statement =
        conn.prepare_cached(&format!("{repeated_sql} ORDER BY repairs DESC, serial LIMIT {ALERT_ROWS}"))?;
    let repeated: Vec<(String, i64)> =
        statement.query_map([year_ago], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
    let mut rows = Vec::with_capacity(repeated.len());
    for (serial, repairs) in repeated {
        let terminal = terminal(conn, &serial)?.unwrap_or(TerminalRow { serial, ..Default::default() });
        rows.push(TerminalAlert { terminal, date: String::new(), figure: repairs });
    }
    let repeated_faults =
        AlertList { rows, total: count(&format!("SELECT count(*) FROM ({repeated_sql})"), &[&year_ago])? };

    // Each visit alert has a partial index holding exactly its rows (V3);
    // INDEXED BY keeps the planner from preferring a wider one.
    let visit_alert = |index: &str, filter: &str| -> Result<AlertList<VisitRow>, DbError> {
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {VISIT_COLUMNS} FROM visits INDEXED BY {index} WHERE {filter}
             ORDER BY updated_at DESC, id LIMIT {ALERT_ROWS}"
        ))?;
        let rows = statement.query_map([], visit_row)?.collect::<Result<Vec<_>, _>>()?;
        let total = count(&format!("SELECT count(*) FROM visits INDEXED BY {index} WHERE {filter}"), &[])?;
        Ok(AlertList { rows, total })
    };
    let waiting_applications = visit_alert(
        "visits_waiting_applications",
        "kind = 'reactivation' AND json_extract(office, '$.application.state') = 'submitted'",
    )?;
    let incomplete_blobs = visit_alert("visits_missing_blobs", "blobs_missing > 0")?;
    let status_count = "SELECT count(*) FROM visits WHERE status = ?1";
    Ok(Alerts {
        sim_expiring,
        old_terminals,
        warranty_ending,
        repeated_faults,
        waiting_applications,
        incomplete_blobs,
        waiting_review: count(status_count, &[&"completed"])?,
        returned: count(status_count, &[&"returned"])?,
    })
}

/// SIM cards expiring by `until` (or expired). The expiry a visit recorded
/// wins over the imported one, so the two halves are: terminals whose
/// visit-recorded expiry is due, and registered terminals whose imported
/// expiry is due and no visit recorded one. Each half reads its own index.
fn sim_alert(
    conn: &Connection,
    in_service: &str,
    until: &str,
    figure: &dyn Fn(&str) -> i64,
) -> Result<AlertList<TerminalAlert>, DbError> {
    let from_visits = format!(
        "FROM terminals t LEFT JOIN terminal_register r ON r.serial = t.serial
         WHERE t.sim_expiry <= ?1 AND {in_service}"
    );
    let from_register = format!(
        "FROM terminal_register r LEFT JOIN terminals t ON t.serial = r.serial
         WHERE r.sim_expiry <= ?1 AND t.sim_expiry IS NULL AND {in_service}"
    );
    let columns = |table_first: &str| {
        if table_first == "t" {
            "t.serial, COALESCE(t.merchant, r.merchant), r.merchant_number, r.model, r.manufacturer, r.state, \
             r.production_date, r.warranty_end, COALESCE(t.sim_iccid, r.sim_iccid), \
             COALESCE(t.sim_carrier, r.sim_carrier), t.sim_expiry, t.last_visit, t.sim_expiry AS due"
        } else {
            "r.serial, COALESCE(t.merchant, r.merchant), r.merchant_number, r.model, r.manufacturer, r.state, \
             r.production_date, r.warranty_end, COALESCE(t.sim_iccid, r.sim_iccid), \
             COALESCE(t.sim_carrier, r.sim_carrier), r.sim_expiry, t.last_visit, r.sim_expiry AS due"
        }
    };
    let mut statement = conn.prepare_cached(&format!(
        "SELECT * FROM (SELECT {} {from_visits} ORDER BY t.sim_expiry, t.serial LIMIT {ALERT_ROWS})
         UNION ALL
         SELECT * FROM (SELECT {} {from_register} ORDER BY r.sim_expiry, r.serial LIMIT {ALERT_ROWS})
         ORDER BY 13, 1 LIMIT {ALERT_ROWS}",
        columns("t"),
        columns("r")
    ))?;
    let rows = statement
        .query_map([until], |r| Ok((terminal_row(r)?, r.get::<_, String>(12)?)))?
        .map(|row| row.map(|(terminal, date)| TerminalAlert { figure: figure(&date), terminal, date }))
        .collect::<Result<Vec<_>, _>>()?;
    let total: i64 = conn
        .prepare_cached(&format!(
            "SELECT (SELECT count(*) {from_visits}) + (SELECT count(*) {from_register})"
        ))?
        .query_row([until], |r| r.get(0))?;
    Ok(AlertList { rows, total })
}

/// Reactivation visits with an application, waiting ones first.
pub fn applications(conn: &Connection) -> Result<Vec<(VisitRow, String)>, DbError> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {VISIT_COLUMNS}, json_extract(office, '$.application.state') AS state FROM visits
         WHERE kind = 'reactivation' AND json_extract(office, '$.application.state') IS NOT NULL
         ORDER BY state <> 'submitted', updated_at DESC, id LIMIT 500"
    ))?;
    Ok(statement.query_map([], |r| Ok((visit_row(r)?, r.get(10)?)))?.collect::<Result<Vec<_>, _>>()?)
}

/// The agents known to the server, for the assignment form.
pub fn agents(conn: &Connection) -> Result<Vec<String>, DbError> {
    let mut statement = conn.prepare_cached("SELECT name FROM agents ORDER BY name")?;
    Ok(statement.query_map([], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?)
}

/// Whether any visit refers to a blob (the pages serve no other blob).
pub fn blob_is_referenced(conn: &Connection, sha: &str) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM visit_blobs WHERE sha256 = ?1)")?
        .query_row([sha], |r| r.get(0))?)
}

/// Missing blobs of a visit, and whether the device's acceptance signature verified.
pub fn visit_server_facts(conn: &Connection, id: &str) -> Result<(Vec<String>, Option<bool>), DbError> {
    let mut statement = conn.prepare_cached(
        "SELECT vb.sha256 FROM visit_blobs vb WHERE vb.visit_id = ?1
         AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = vb.sha256)",
    )?;
    let missing = statement.query_map([id], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
    let valid = conn
        .prepare_cached(
            "SELECT device_signature_valid FROM countersignatures WHERE visit_id = ?1
             ORDER BY received_at DESC LIMIT 1",
        )?
        .query_row([id], |r| r.get(0))
        .optional()?;
    Ok((missing, valid))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database with `n` projected visits: kinds, statuses and agents in
    /// turn, many sharing one `updated_at` so the key's tie-break matters.
    fn fleet(n: usize) -> (tempfile::TempDir, crate::db::Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(&dir.path().join("s.db")).unwrap();
        let conn = db.lock();
        for i in 0..n {
            conn.execute(
                "INSERT INTO visits (id, owner, kind, status, merchant, merchant_number, serial, assignee, created_by,
                    created_at, updated_at, heads, office, blobs_missing)
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?2, ?2, ?7, ?8, '', '{}', ?9)",
                rusqlite::params![
                    format!("v{i:04}"),
                    ["wang", "li", "zhao"][i % 3],
                    ["repair", "installation"][i % 2],
                    ["completed", "approved", "returned", "draft"][i % 4],
                    format!("{}店", ["老王", "李记", "张姐"][i % 3]),
                    format!("N91000{:08}", i % 40),
                    1_790_000_000 + i as i64,
                    1_790_000_000 + (i as i64 / 7) * 3_600,
                    i64::from(i % 10 == 0),
                ],
            )
            .unwrap();
        }
        drop(conn);
        (dir, db)
    }

    fn all_pages(conn: &Connection, filter: &VisitFilter) -> Vec<VisitRow> {
        let mut filter = filter.clone();
        let mut seen = Vec::new();
        loop {
            let (rows, next) = visits(conn, &filter, 9).unwrap();
            assert!(rows.len() <= 9);
            seen.extend(rows);
            match next {
                Some(key) => filter.after = key,
                None => return seen,
            }
        }
    }

    #[test]
    fn keyset_pages_cover_every_match_once_newest_first() {
        let (_dir, db) = fleet(200);
        let conn = db.lock();
        let cases = [
            VisitFilter::default(),
            VisitFilter { status: "completed".into(), ..Default::default() },
            VisitFilter { kind: "repair".into(), agent: "li".into(), ..Default::default() },
            VisitFilter { merchant: "李记".into(), ..Default::default() },
            VisitFilter { serial: "n9100000000".into(), ..Default::default() },
            VisitFilter {
                from: day_of(1_790_000_000 + 10 * 3_600),
                to: day_of(1_790_000_000 + 10 * 3_600),
                ..Default::default()
            },
        ];
        for filter in cases {
            let rows = all_pages(&conn, &filter);
            let expected: Vec<String> = {
                let mut everything = visits(&conn, &VisitFilter::default(), 10_000).unwrap().0;
                everything.retain(|r| {
                    (filter.status.is_empty() || r.status == filter.status)
                        && (filter.kind.is_empty() || r.kind == filter.kind)
                        && (filter.agent.is_empty() || r.assignee == filter.agent)
                        && (filter.merchant.is_empty() || r.merchant.contains(&filter.merchant))
                        && (filter.serial.is_empty()
                            || r.serial.as_deref().unwrap_or("").starts_with(&filter.serial.to_uppercase()))
                        && day_start(&filter.from).is_none_or(|from| r.updated_at >= from)
                        && day_start(&filter.to).is_none_or(|to| r.updated_at < to + 86_400)
                });
                everything.into_iter().map(|r| r.id).collect()
            };
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            assert_eq!(ids, expected, "{filter:?}");
            assert!(!ids.is_empty(), "the case {filter:?} matches something");
            assert!(rows.windows(2).all(|w| (w[0].updated_at, &w[1].id) >= (w[1].updated_at, &w[0].id)));
        }
    }

    #[test]
    fn a_merchant_filter_treats_like_wildcards_as_text() {
        let (_dir, db) = fleet(20);
        let conn = db.lock();
        let filter = VisitFilter { merchant: "%".into(), ..Default::default() };
        assert!(visits(&conn, &filter, 50).unwrap().0.is_empty());
    }

    #[test]
    fn the_list_and_the_alerts_use_their_indexes() {
        let (_dir, db) = fleet(10);
        let conn = db.lock();
        let plan = |sql: &str| -> String {
            let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows = statement.query_map([], |r| r.get::<_, String>(3)).unwrap();
            rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
        };
        let list = "SELECT id FROM visits WHERE status = 'completed' ORDER BY updated_at DESC, id LIMIT 51";
        assert!(
            plan(list).contains("visits_by_status_updated") && !plan(list).contains("TEMP B-TREE"),
            "{}",
            plan(list)
        );
        let by_kind = "SELECT id FROM visits WHERE kind = 'repair' ORDER BY updated_at DESC, id LIMIT 51";
        assert!(plan(by_kind).contains("visits_by_kind_updated"), "{}", plan(by_kind));
        // The alerts name their partial indexes; SQLite refuses the query if one cannot serve it.
        let alerts = alerts(&conn, "2026-11-10").unwrap();
        assert_eq!(alerts.incomplete_blobs.total, 1);
        assert_eq!(alerts.waiting_applications.total, 0);
    }

    #[test]
    fn alerts_find_sims_old_terminals_warranties_and_repeated_repairs() {
        let (_dir, db) = fleet(0);
        let mut conn = db.lock();
        let csv = "serial,state,production_date,warranty_end,sim_iccid,sim_expiry\n\
                   N910000000001,installed,2020-01-01,2026-12-01,89860012345678901238,2026-11-01\n\
                   N910000000002,installed,2025-01-01,2027-06-01,89860012345678901238,2026-11-30\n\
                   N910000000003,deregistered,2019-01-01,,89860012345678901238,2025-01-01\n\
                   N910000000004,installed,2024-06-01,2026-11-20,,\n";
        assert!(crate::office::import::import_terminals(&mut conn, csv).unwrap().bad.is_empty());
        for (i, serial) in ["N910000000004", "N910000000004", "N910000000002"].iter().enumerate() {
            conn.execute(
                "INSERT INTO visits (id, owner, kind, status, merchant, serial, assignee, created_by, created_at,
                    updated_at, heads, office) VALUES (?1, 'wang', 'repair', 'approved', 'x', ?2, 'wang', 'wang', 0, ?3, '', '{}')",
                rusqlite::params![format!("r{i}"), serial, day_start("2026-10-01").unwrap()],
            )
            .unwrap();
        }
        let alerts = alerts(&conn, "2026-11-10").unwrap();
        let serials = |list: &AlertList<TerminalAlert>| -> Vec<(String, i64)> {
            list.rows.iter().map(|a| (a.terminal.serial.clone(), a.figure)).collect()
        };
        // Expired 9 days ago, and expiring in 20 days; the deregistered terminal is not watched.
        assert_eq!(
            serials(&alerts.sim_expiring),
            [("N910000000001".into(), -9), ("N910000000002".into(), 20)]
        );
        assert_eq!(serials(&alerts.old_terminals), [("N910000000001".into(), 6)]);
        assert_eq!(
            serials(&alerts.warranty_ending),
            [("N910000000004".into(), 10), ("N910000000001".into(), 21)]
        );
        assert_eq!(serials(&alerts.repeated_faults), [("N910000000004".into(), 2)]);
        assert_eq!(alerts.sim_expiring.total, 2);
    }
}
