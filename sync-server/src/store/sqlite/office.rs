//! The SQL of the projections and the back office's lists and alerts.
//!
//! Lists page by key (`updated_at`, `id`), never by offset, so the hundredth
//! page costs what the first does; every filter has an index that is ordered
//! like the list (migration V3). Each query scoped to a principal starts its
//! conditions with the access rule ([`super::reach`]), whose parameter is 1.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Transaction, params, params_from_iter};

use super::audit;
use crate::clock::now;
use crate::store::{
    ALERT_ROWS, AlertList, AlertWindow, Alerts, AuditEntry, CountersignatureFact, MerchantMatch,
    ProjectionRow, RegisterRow, SignerDevice, SigningDevice, StoreError, TerminalAlert, TerminalRow,
    VisitFacts, VisitPage, VisitQuery, VisitRow,
};

const VISIT_COLUMNS: &str = "v.id, v.kind, v.status, v.merchant, v.merchant_number, v.serial, v.assignee, \
     v.created_at, v.updated_at, v.blobs_missing, v.merchant_phone";

/// How many columns [`VISIT_COLUMNS`] names: a query that selects more after
/// them reads its own from this index on.
const VISIT_COLUMN_COUNT: usize = 11;

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
        merchant_phone: r.get::<_, Option<String>>(VISIT_COLUMN_COUNT - 1)?.filter(|p| !p.is_empty()),
    })
}

fn like_pattern(text: &str) -> String {
    let escaped: String = text
        .chars()
        .flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] })
        .collect();
    format!("%{escaped}%")
}

/// Writes a visit's projection row, the blobs it refers to, its terminal
/// and the countersignature of a new acceptance.
pub(super) fn write_projection(tx: &Transaction<'_>, row: ProjectionRow) -> Result<(), StoreError> {
    if let Some(write) = &row.register {
        super::register::apply(tx, &row.id, write)?;
    }
    let mut heads = row.heads.clone();
    heads.sort();
    let heads = heads.join(",");
    tx.prepare_cached("DELETE FROM visit_blobs WHERE visit_id = ?1")?.execute([&row.id])?;
    for sha in &row.blobs {
        tx.prepare_cached("INSERT OR IGNORE INTO visit_blobs (visit_id, sha256) VALUES (?1, ?2)")?
            .execute(params![row.id, sha])?;
    }
    let missing: i64 = tx
        .prepare_cached(
            "SELECT count(*) FROM visit_blobs vb WHERE vb.visit_id = ?1
             AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = vb.sha256)",
        )?
        .query_row([&row.id], |r| r.get(0))?;
    tx.prepare_cached(
        "INSERT INTO visits (id, owner, kind, status, merchant, merchant_number, serial, assignee, created_by,
            created_at, updated_at, heads, office, blobs_missing, sim_iccid, sim_expiry, merchant_phone,
            arrived_at, completed_at, dispatched_serial)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)
         ON CONFLICT (id) DO UPDATE SET kind = ?3, status = ?4, merchant = ?5, merchant_number = ?6,
            serial = ?7, assignee = ?8, updated_at = ?11, heads = ?12, office = ?13, blobs_missing = ?14,
            sim_iccid = ?15, sim_expiry = ?16, merchant_phone = ?17, arrived_at = ?18, completed_at = ?19,
            dispatched_serial = ?20",
    )?
    .execute(params![
        row.id,
        row.owner,
        row.kind,
        row.status,
        row.merchant,
        row.merchant_number,
        row.serial,
        row.assignee,
        row.created_by,
        row.created_at,
        row.updated_at,
        heads,
        row.office,
        missing,
        row.sim_iccid,
        row.sim_expiry,
        row.merchant_phone.unwrap_or_default(),
        row.arrived_at,
        row.completed_at,
        row.dispatched_serial,
    ])?;
    if let Some(serial) = &row.serial {
        tx.prepare_cached(
            "INSERT INTO terminals (serial, merchant, sim_iccid, sim_carrier, sim_expiry, last_visit, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (serial) DO UPDATE SET merchant = ?2, sim_iccid = COALESCE(?3, sim_iccid),
                sim_carrier = COALESCE(?4, sim_carrier), sim_expiry = COALESCE(?5, sim_expiry),
                last_visit = ?6, updated_at = ?7
             WHERE excluded.updated_at >= terminals.updated_at",
        )?
        .execute(params![
            serial,
            row.merchant,
            row.sim_iccid,
            row.sim_carrier,
            row.sim_expiry,
            row.id,
            row.updated_at
        ])?;
    }
    if let Some(pending) = row.countersign {
        let known: bool = tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM countersignatures WHERE visit_id = ?1 AND content_hash = ?2)",
            )?
            .query_row(params![row.id, pending.content_hash], |r| r.get(0))?;
        if !known {
            // The device by the server's own id (its primary key): exactly
            // one, never chosen by a phone.
            let mut device = tx
                .prepare_cached("SELECT agent, client_device_id, public_key FROM devices WHERE id = ?1")?
                .query_row([&pending.device_id], |r| {
                    Ok(SigningDevice {
                        id: pending.device_id.clone(),
                        agent: r.get(0)?,
                        client_device_id: r.get(1)?,
                        public_key: r.get(2)?,
                        earlier_keys: Vec::new(),
                    })
                })
                .optional()?;
            if let Some(device) = &mut device {
                device.earlier_keys = super::earlier_keys(tx, &device.id)?;
            }
            let signed = (pending.sign)(device.as_ref());
            tx.prepare_cached(
                "INSERT INTO countersignatures (visit_id, content_hash, strokes_sha256, image_sha256, device_id,
                    device_signature_valid, server_signature, received_at, signing_device, server_public_key,
                    device_public_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                row.id,
                signed.content_hash,
                signed.strokes_sha256,
                signed.image_sha256,
                signed.device_id,
                signed.device_signature_valid,
                signed.server_signature,
                signed.received_at,
                pending.device_id,
                signed.server_public_key,
                signed.device_public_key
            ])?;
            if !signed.device_signature_valid {
                let entry = AuditEntry::new(
                    Some(&row.id),
                    &signed.device_id,
                    "acceptance_signature_invalid",
                    &signed.content_hash,
                );
                audit(tx, &entry)?;
            }
        }
    }
    Ok(())
}

/// Missing blobs of a visit, and whether the device's acceptance signature verified.
pub(super) fn visit_facts(c: &Connection, reach: &str, args: Vec<Value>) -> Result<VisitFacts, StoreError> {
    let mut statement = c.prepare_cached(&format!(
        "SELECT vb.sha256 FROM visit_blobs vb JOIN visits v ON v.id = vb.visit_id
         WHERE {reach} AND vb.visit_id = ? AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = vb.sha256)"
    ))?;
    let missing_blobs = statement
        .query_map(params_from_iter(args.clone()), |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    // The newest by insertion (rowid), not by arrival second: two
    // acceptances countersigned in one second are still told apart.
    let countersignature = c
        .prepare_cached(&format!(
            "SELECT cs.content_hash, cs.device_signature_valid, cs.received_at,
                    d.id, d.agent, d.name, COALESCE(cs.device_public_key, d.public_key), d.created_at,
                    cs.server_signature, cs.server_public_key
             FROM countersignatures cs JOIN visits v ON v.id = cs.visit_id
             LEFT JOIN devices d ON d.id = cs.signing_device
             WHERE {reach} AND cs.visit_id = ? ORDER BY cs.rowid DESC LIMIT 1"
        ))?
        .query_row(params_from_iter(args), |r| {
            let device = match r.get::<_, Option<String>>(3)? {
                Some(id) => Some(SignerDevice {
                    id,
                    agent: r.get(4)?,
                    name: r.get(5)?,
                    public_key: r.get(6)?,
                    enrolled_at: r.get(7)?,
                }),
                None => None,
            };
            Ok(CountersignatureFact {
                content_hash: r.get(0)?,
                device_signature_valid: r.get(1)?,
                received_at: r.get(2)?,
                device,
                server_signature: r.get(8)?,
                server_public_key: r.get(9)?,
            })
        })
        .optional()?;
    Ok(VisitFacts { missing_blobs, countersignature })
}

/// A page of visits matching `query`, newest change first, and the key
/// of the next page if there is one.
pub(super) fn visits(
    conn: &Connection,
    reach: &str,
    mut args: Vec<Value>,
    query: &VisitQuery,
    limit: usize,
) -> Result<VisitPage, StoreError> {
    let mut sql = format!("SELECT {VISIT_COLUMNS} FROM visits v WHERE {reach}");
    let mut text = |sql: &mut String, clause: &str, value: String| {
        sql.push_str(clause);
        args.push(Value::Text(value));
    };
    if let Some(status) = &query.status {
        text(&mut sql, " AND v.status = ?", status.clone());
    }
    if let Some(kind) = &query.kind {
        text(&mut sql, " AND v.kind = ?", kind.clone());
    }
    if let Some(assignee) = &query.assignee {
        text(&mut sql, " AND v.assignee = ?", assignee.clone());
    }
    match &query.merchant {
        Some(MerchantMatch::Number(number)) => text(&mut sql, " AND v.merchant_number = ?", number.clone()),
        Some(MerchantMatch::NameContains(name)) => {
            text(&mut sql, " AND v.merchant LIKE ? ESCAPE '\\'", like_pattern(name));
        }
        None => {}
    }
    if let Some(serial) = &query.serial_prefix {
        text(&mut sql, " AND v.serial >= ?", serial.clone());
        text(&mut sql, " AND v.serial < ?", format!("{serial}\u{10FFFF}"));
    }
    let mut number = |sql: &mut String, clause: &str, value: i64| {
        sql.push_str(clause);
        args.push(Value::Integer(value));
    };
    if let Some(from) = query.updated_from {
        number(&mut sql, " AND v.updated_at >= ?", from);
    }
    if let Some(before) = query.updated_before {
        number(&mut sql, " AND v.updated_at < ?", before);
    }
    let (before, order) = if query.oldest_first { (">", "ASC") } else { ("<", "DESC") };
    if let Some((at, id)) = &query.after {
        sql.push_str(&format!(" AND (v.updated_at {before} ? OR (v.updated_at = ? AND v.id > ?))"));
        args.extend([Value::Integer(*at), Value::Integer(*at), Value::Text(id.clone())]);
    }
    sql.push_str(&format!(" ORDER BY v.updated_at {order}, v.id LIMIT ?"));
    args.push(Value::Integer(limit as i64 + 1));
    let mut statement = conn.prepare_cached(&sql)?;
    let mut rows = statement.query_map(params_from_iter(args), visit_row)?.collect::<Result<Vec<_>, _>>()?;
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| (r.updated_at, r.id.clone()))
    } else {
        None
    };
    Ok((rows, next))
}

/// The visits of one terminal, newest first (the serial is the last argument).
pub(super) fn terminal_visits(
    conn: &Connection,
    reach: &str,
    args: Vec<Value>,
) -> Result<Vec<VisitRow>, StoreError> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {VISIT_COLUMNS} FROM visits v WHERE {reach} AND v.serial = ?
         ORDER BY v.updated_at DESC, v.id LIMIT 200"
    ))?;
    Ok(statement.query_map(params_from_iter(args), visit_row)?.collect::<Result<Vec<_>, _>>()?)
}

/// The open visits whose terminal is one of `serials`, newest first.
pub(super) fn open_visits(
    conn: &Connection,
    reach: &str,
    mut args: Vec<Value>,
    serials: &[String],
) -> Result<Vec<VisitRow>, StoreError> {
    if serials.is_empty() {
        return Ok(Vec::new());
    }
    let serials = &serials[..serials.len().min(crate::store::OPEN_VISITS_SERIALS)];
    let marks = vec!["?"; serials.len()].join(", ");
    let open = crate::store::OPEN_STATUSES.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ");
    args.extend(serials.iter().chain(serials).map(|s| Value::Text(s.clone())));
    // The serial shown is the identified one, else the dispatched one.
    let columns = VISIT_COLUMNS.replace("v.serial", "COALESCE(v.serial, v.dispatched_serial)");
    let mut statement = conn.prepare(&format!(
        "SELECT {columns} FROM visits v
         WHERE {reach} AND (v.serial IN ({marks}) OR (v.serial IS NULL AND v.dispatched_serial IN ({marks})))
           AND v.status IN ({open})
         ORDER BY v.updated_at DESC, v.id"
    ))?;
    Ok(statement.query_map(params_from_iter(args), visit_row)?.collect::<Result<Vec<_>, _>>()?)
}

/// The dashboard's figures (see [`crate::store::DashboardFigures`]).
pub(super) fn dashboard(
    conn: &Connection,
    reach: &str,
    reach_args: Vec<Value>,
    window: &crate::store::DashboardWindow,
) -> Result<crate::store::DashboardFigures, StoreError> {
    use crate::store::BEIJING_OFFSET_SECS as OFFSET;
    const DAY: i64 = 86_400;
    let with = |more: &[Value]| reach_args.iter().cloned().chain(more.iter().cloned()).collect::<Vec<_>>();
    // One pass over the window's visits, by day, kind and agent.
    let mut statement = conn.prepare_cached(&format!(
        "SELECT (v.created_at + {OFFSET}) / {DAY} AS day, v.kind, v.assignee, count(*)
         FROM visits v INDEXED BY visits_by_created
         WHERE {reach} AND v.created_at >= ? GROUP BY day, v.kind, v.assignee"
    ))?;
    let grouped = statement
        .query_map(params_from_iter(with(&[Value::Integer(window.since)])), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let (per_day_kind, per_day_agent) = crate::store::split_per_day(grouped);
    let now = window.now;
    let (backlog, oldest_waiting) = conn
        // Numbered after the reach's own parameters, which come later in the text.
        .prepare_cached(&{
            let n = reach_args.len();
            let (day, three, seven) = (n + 1, n + 2, n + 3);
            format!(
                "SELECT count(*) FILTER (WHERE v.updated_at > ?{day}),
                        count(*) FILTER (WHERE v.updated_at <= ?{day} AND v.updated_at > ?{three}),
                        count(*) FILTER (WHERE v.updated_at <= ?{three} AND v.updated_at > ?{seven}),
                        count(*) FILTER (WHERE v.updated_at <= ?{seven}),
                        min(v.updated_at)
                 FROM visits v INDEXED BY visits_by_status_updated WHERE {reach} AND v.status = 'completed'"
            )
        })?
        .query_row(
            params_from_iter(with(&[now - DAY, now - 3 * DAY, now - 7 * DAY].map(Value::Integer))),
            |r| Ok(([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?], r.get(4)?)),
        )?;
    // The SIM alert's two halves, each on its own index: the card a visit
    // recorded, and the register's where no visit's counts.
    let sim_expiries = conn
        .prepare_cached(&format!(
            "SELECT due, count(*) FROM (
                SELECT t.sim_expiry AS due FROM terminals t LEFT JOIN terminal_register r ON r.serial = t.serial
                WHERE t.sim_expiry >= ?1 AND t.sim_expiry <= ?2 AND {CARD_BY_VISITS} AND {IN_SERVICE}
                UNION ALL
                SELECT r.sim_expiry FROM terminal_register r LEFT JOIN terminals t ON t.serial = r.serial
                WHERE r.sim_expiry >= ?1 AND r.sim_expiry <= ?2
                  AND (t.sim_expiry IS NULL OR NOT {CARD_BY_VISITS}) AND {IN_SERVICE}
             ) GROUP BY due"
        ))?
        .query_map([&window.sim_from, &window.sim_until], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    let states = conn
        .prepare_cached("SELECT COALESCE(state, ''), count(*) FROM terminal_register GROUP BY state")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    let arrival_to_completion = conn
        .prepare_cached(&format!(
            "SELECT count(*), COALESCE(sum(v.completed_at - v.arrived_at), 0)
             FROM visits v INDEXED BY visits_by_completed
             WHERE {reach} AND v.completed_at >= ? AND v.arrived_at IS NOT NULL AND v.completed_at > v.arrived_at"
        ))?
        .query_row(params_from_iter(with(&[Value::Integer(window.since)])), |r| Ok((r.get(0)?, r.get(1)?)))?;
    let repeated_faults = conn
        .prepare_cached(
            "SELECT count(*) FROM (SELECT serial FROM visits INDEXED BY visits_repairs_by_serial
             WHERE kind = 'repair' AND serial IS NOT NULL AND updated_at >= ?1
             GROUP BY serial HAVING count(*) >= 2)",
        )?
        .query_row([window.repairs_since], |r| r.get(0))?;
    Ok(crate::store::DashboardFigures {
        per_day_kind,
        per_day_agent,
        backlog,
        oldest_waiting,
        sim_expiries,
        states,
        arrival_to_completion,
        repeated_faults,
    })
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

/// A registered terminal's merchant: the register's (a visit that finds the
/// terminal elsewhere is a conflict the reviewer settles, never a silent
/// change); what the last visit recorded only where an imported row names
/// none.
macro_rules! merchant {
    () => {
        "CASE WHEN r.changed_by IS NULL OR r.changed_by = 'import' THEN COALESCE(r.merchant, t.merchant) \
         ELSE r.merchant END"
    };
}
const MERCHANT: &str = merchant!();

/// A registered terminal's SIM `column`: what the last visit recorded
/// before the import's, until an approved visit changed the row; from then
/// on the register's, which the approvals keep.
macro_rules! sim {
    ($column:ident) => {
        concat!(
            "CASE WHEN r.changed_by = 'import' THEN COALESCE(t.",
            stringify!($column),
            ", r.",
            stringify!($column),
            ") ELSE r.",
            stringify!($column),
            " END"
        )
    };
}

/// The fleet's columns over `terminal_register r LEFT JOIN terminals t`:
/// registered terminals, with what visits recorded preferred.
const REGISTERED: &str = concat!(
    "r.serial, ",
    merchant!(),
    ", r.merchant_number, r.model, r.manufacturer, r.state, r.production_date, r.warranty_end, ",
    sim!(sim_iccid),
    ", ",
    sim!(sim_carrier),
    ", ",
    sim!(sim_expiry),
    ", t.last_visit"
);

/// The fleet's columns over `terminals t` alone: terminals only visits know.
const UNREGISTERED: &str = "t.serial, t.merchant, NULL, NULL, NULL, NULL, NULL, NULL, t.sim_iccid, t.sim_carrier, \
     t.sim_expiry, t.last_visit";

/// A page of terminals by serial. Each half of the fleet (registered,
/// known from visits only) is read in serial order from its primary key
/// and cut at the page size before the two are merged.
pub(super) fn terminals(
    conn: &Connection,
    serial: &str,
    merchant: &str,
    after: &str,
    limit: usize,
) -> Result<(Vec<TerminalRow>, Option<String>), StoreError> {
    let serial = serial.trim().to_ascii_uppercase();
    let mut statement = conn.prepare_cached(&format!(
        "SELECT * FROM (SELECT {REGISTERED} FROM terminal_register r LEFT JOIN terminals t ON t.serial = r.serial
             WHERE r.serial > ?1 AND (?2 = '' OR (r.serial >= ?2 AND r.serial < ?2 || char(1114111)))
               AND (?3 = '' OR {MERCHANT} LIKE ?4 ESCAPE '\\')
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
        .query_map(params![after, serial, merchant, like_pattern(merchant), limit as i64 + 1], terminal_row)?
        .collect::<Result<Vec<_>, _>>()?;
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| r.serial.clone())
    } else {
        None
    };
    Ok((rows, next))
}

/// The registered terminals of one merchant number, by serial (at most `limit`).
pub(super) fn merchant_terminals(
    conn: &Connection,
    merchant_number: &str,
    limit: usize,
) -> Result<Vec<TerminalRow>, StoreError> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {REGISTERED} FROM terminal_register r LEFT JOIN terminals t ON t.serial = r.serial
         WHERE r.merchant_number = ?1 ORDER BY r.serial LIMIT ?2"
    ))?;
    Ok(statement
        .query_map(params![merchant_number, limit as i64], terminal_row)?
        .collect::<Result<Vec<_>, _>>()?)
}

/// Where the register's latest import with a place puts the shop of `merchant_number`.
pub(super) fn merchant_place(
    conn: &Connection,
    merchant_number: &str,
) -> Result<Option<(i64, i64)>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT lat_e6, lon_e6 FROM terminal_register
             WHERE merchant_number = ?1 AND lat_e6 IS NOT NULL AND lon_e6 IS NOT NULL
             ORDER BY imported_at DESC, serial LIMIT 1",
        )?
        .query_row([merchant_number], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// One terminal.
pub(super) fn terminal(conn: &Connection, serial: &str) -> Result<Option<TerminalRow>, StoreError> {
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
pub(super) fn all_terminals(conn: &Connection) -> Result<Vec<TerminalRow>, StoreError> {
    let mut statement = conn.prepare(&format!("SELECT {FLEET_COLUMNS} FROM fleet ORDER BY serial"))?;
    Ok(statement.query_map([], terminal_row)?.collect::<Result<Vec<_>, _>>()?)
}

/// The alerts of `window`; terminal alerts' figures other than repairs are
/// left at 0 for the caller.
pub(super) fn alerts(
    conn: &Connection,
    reach: &str,
    reach_args: Vec<Value>,
    window: &AlertWindow,
) -> Result<Alerts, StoreError> {
    let in_service = IN_SERVICE;
    let count = |sql: &str, args: Vec<Value>| -> Result<i64, StoreError> {
        Ok(conn.prepare_cached(sql)?.query_row(params_from_iter(args), |r| r.get(0))?)
    };
    // Registered terminals whose register `column` (indexed) lies in [from, to], soonest first.
    let register_alert = |column: &str, from: &str, to: &str| {
        let filter = format!("r.{column} >= ?1 AND r.{column} <= ?2 AND {in_service}");
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {REGISTERED}, r.{column} FROM terminal_register r LEFT JOIN terminals t ON t.serial = r.serial
             WHERE {filter} ORDER BY r.{column}, r.serial LIMIT {ALERT_ROWS}"
        ))?;
        let rows = statement
            .query_map([from, to], |r| Ok((terminal_row(r)?, r.get::<_, String>(12)?)))?
            .map(|row| row.map(|(terminal, date)| TerminalAlert { figure: 0, terminal, date }))
            .collect::<Result<Vec<_>, _>>()?;
        let both = vec![Value::Text(from.to_owned()), Value::Text(to.to_owned())];
        let total = count(&format!("SELECT count(*) FROM terminal_register r WHERE {filter}"), both)?;
        Ok::<_, StoreError>(AlertList { rows, total })
    };
    let sim_expiring = sim_alert(conn, in_service, &window.sim_until)?;
    let old_terminals = register_alert("production_date", "0000-01-01", &window.old_until)?;
    let warranty_ending = register_alert("warranty_end", &window.today, &window.warranty_until)?;
    let inspection_due = inspection_alert(conn, &window.inspection_until)?;
    let held_too_long = custody_alert(
        conn,
        "r.holder_kind = 'agent' AND r.held_since <= ?1",
        Value::Integer(window.held_before),
    )?;
    let recalled_not_checked_in = custody_alert(
        conn,
        "r.holder_kind = 'agent' AND r.held_since <= ?1 AND r.state = 'recycled'",
        Value::Integer(window.recalled_before),
    )?;
    let repair_overdue = custody_alert(
        conn,
        "r.holder_kind = 'repair_centre' AND r.held_since IS NOT NULL AND r.promised_back < ?1",
        Value::Text(window.today.clone()),
    )?;

    // Read in serial order from the partial index of repairs, so the grouping needs no sort.
    let repeated_sql = "SELECT serial, count(*) AS repairs FROM visits INDEXED BY visits_repairs_by_serial
         WHERE kind = 'repair' AND serial IS NOT NULL AND updated_at >= ?1
         GROUP BY serial HAVING repairs >= 2";
    let mut statement =
        conn.prepare_cached(&format!("{repeated_sql} ORDER BY repairs DESC, serial LIMIT {ALERT_ROWS}"))?;
    let repeated: Vec<(String, i64)> = statement
        .query_map([window.repairs_since], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut rows = Vec::with_capacity(repeated.len());
    for (serial, repairs) in repeated {
        let terminal = terminal(conn, &serial)?.unwrap_or(TerminalRow { serial, ..Default::default() });
        rows.push(TerminalAlert { terminal, date: String::new(), figure: repairs });
    }
    let repeated_faults = AlertList {
        rows,
        total: count(
            &format!("SELECT count(*) FROM ({repeated_sql})"),
            vec![Value::Integer(window.repairs_since)],
        )?,
    };

    // Each visit alert has a partial index holding exactly its rows (V3);
    // INDEXED BY keeps the planner from preferring a wider one.
    let visit_alert = |index: &str, filter: &str| -> Result<AlertList<VisitRow>, StoreError> {
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {VISIT_COLUMNS} FROM visits v INDEXED BY {index} WHERE {reach} AND {filter}
             ORDER BY v.updated_at DESC, v.id LIMIT {ALERT_ROWS}"
        ))?;
        let rows = statement
            .query_map(params_from_iter(reach_args.clone()), visit_row)?
            .collect::<Result<Vec<_>, _>>()?;
        let total = count(
            &format!("SELECT count(*) FROM visits v INDEXED BY {index} WHERE {reach} AND {filter}"),
            reach_args.clone(),
        )?;
        Ok(AlertList { rows, total })
    };
    let waiting_applications = visit_alert(
        "visits_waiting_applications",
        "v.kind = 'reactivation' AND json_extract(v.office, '$.application.state') = 'submitted'",
    )?;
    let incomplete_blobs = visit_alert("visits_missing_blobs", "v.blobs_missing > 0")?;
    let status_count = |status: &str| {
        let mut args = reach_args.clone();
        args.push(Value::Text(status.to_owned()));
        count(&format!("SELECT count(*) FROM visits v WHERE {reach} AND v.status = ?"), args)
    };
    Ok(Alerts {
        sim_expiring,
        old_terminals,
        warranty_ending,
        repeated_faults,
        inspection_due,
        held_too_long,
        recalled_not_checked_in,
        repair_overdue,
        waiting_applications,
        incomplete_blobs,
        waiting_review: status_count("completed")?,
        returned: status_count("returned")?,
    })
}

/// Terminals in service whose last inspection (or, never inspected, whose
/// entry into service, or, not known either, whose production) is on or
/// before `until`, most overdue first, from the partial index of V14.
fn inspection_alert(conn: &Connection, until: &str) -> Result<AlertList<TerminalAlert>, StoreError> {
    let filter =
        "r.state = 'installed' AND COALESCE(r.last_inspected, r.in_service_since, r.production_date) <= ?1";
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {REGISTERED}, COALESCE(r.last_inspected, r.in_service_since, r.production_date) AS due
         FROM terminal_register r LEFT JOIN terminals t ON t.serial = r.serial
         WHERE {filter} ORDER BY due, r.serial LIMIT {ALERT_ROWS}"
    ))?;
    let rows = statement
        .query_map([until], |r| {
            Ok(TerminalAlert { terminal: terminal_row(r)?, date: r.get(12)?, figure: 0 })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let total = conn
        .prepare_cached(&format!("SELECT count(*) FROM terminal_register r WHERE {filter}"))?
        .query_row([until], |r| r.get(0))?;
    Ok(AlertList { rows, total })
}

/// Terminals whose holder matches `filter` (its parameter is 1), held
/// longest first, from the index of V16; the alert's date is the day the
/// holder took it (or the repair centre's promised day) and its figure the
/// holder's name is shown by the page from the terminal's row.
fn custody_alert(
    conn: &Connection,
    filter: &str,
    bound: Value,
) -> Result<AlertList<TerminalAlert>, StoreError> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {REGISTERED}, COALESCE(r.promised_back, ''), r.held_since, r.holder_name
         FROM terminal_register r LEFT JOIN terminals t ON t.serial = r.serial
         WHERE {filter} ORDER BY r.held_since, r.serial LIMIT {ALERT_ROWS}"
    ))?;
    let rows = statement
        .query_map([&bound], |r| {
            let promised: String = r.get(12)?;
            let since: i64 = r.get(13)?;
            let holder: String = r.get(14)?;
            let mut terminal = terminal_row(r)?;
            if !holder.is_empty() {
                terminal.merchant = holder;
            }
            let date = if promised.is_empty() {
                posfield_shared::Timestamp::from_seconds(since).beijing_date().to_string()
            } else {
                promised
            };
            Ok(TerminalAlert { terminal, date, figure: since })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let total = conn
        .prepare_cached(&format!("SELECT count(*) FROM terminal_register r WHERE {filter}"))?
        .query_row([&bound], |r| r.get(0))?;
    Ok(AlertList { rows, total })
}

/// SIM cards expiring by `until` (or expired). The expiry a visit recorded
/// wins over the imported one, so the two halves are: terminals whose
/// visit-recorded expiry is due, and registered terminals whose imported
/// expiry is due and no visit recorded one. Each half reads its own index.
/// A registered terminal still in service (not deregistered, taken back or lost).
const IN_SERVICE: &str = "(r.state IS NULL OR r.state NOT IN ('deregistered', 'recycled', 'lost'))";

/// Once an approval changed a register row, the register's card is the
/// one (a later visit not yet approved does not move the alert); until
/// then, the card a visit recorded wins over the imported one.
const CARD_BY_VISITS: &str = "(r.changed_by IS NULL OR r.changed_by = 'import')";

fn sim_alert(
    conn: &Connection,
    in_service: &str,
    until: &str,
) -> Result<AlertList<TerminalAlert>, StoreError> {
    let by_visits = CARD_BY_VISITS;
    let from_visits = format!(
        "FROM terminals t LEFT JOIN terminal_register r ON r.serial = t.serial
         WHERE t.sim_expiry <= ?1 AND {by_visits} AND {in_service}"
    );
    let from_register = format!(
        "FROM terminal_register r LEFT JOIN terminals t ON t.serial = r.serial
         WHERE r.sim_expiry <= ?1 AND (t.sim_expiry IS NULL OR NOT {by_visits}) AND {in_service}"
    );
    let columns = |table_first: &str| {
        if table_first == "t" {
            concat!(
                "t.serial, ",
                merchant!(),
                ", r.merchant_number, r.model, r.manufacturer, r.state, \
             r.production_date, r.warranty_end, COALESCE(t.sim_iccid, r.sim_iccid), \
             COALESCE(t.sim_carrier, r.sim_carrier), t.sim_expiry, t.last_visit, t.sim_expiry AS due"
            )
        } else {
            concat!(
                "r.serial, ",
                merchant!(),
                ", r.merchant_number, r.model, r.manufacturer, r.state, \
             r.production_date, r.warranty_end, COALESCE(t.sim_iccid, r.sim_iccid), \
             COALESCE(t.sim_carrier, r.sim_carrier), r.sim_expiry, t.last_visit, r.sim_expiry AS due"
            )
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
        .map(|row| row.map(|(terminal, date)| TerminalAlert { figure: 0, terminal, date }))
        .collect::<Result<Vec<_>, _>>()?;
    let total: i64 = conn
        .prepare_cached(&format!(
            "SELECT (SELECT count(*) {from_visits}) + (SELECT count(*) {from_register})"
        ))?
        .query_row([until], |r| r.get(0))?;
    Ok(AlertList { rows, total })
}

/// Reactivation visits with an application, waiting ones first.
pub(super) fn applications(
    conn: &Connection,
    reach: &str,
    args: Vec<Value>,
) -> Result<Vec<(VisitRow, String)>, StoreError> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {VISIT_COLUMNS}, json_extract(v.office, '$.application.state') AS state FROM visits v
         WHERE {reach} AND v.kind = 'reactivation' AND json_extract(v.office, '$.application.state') IS NOT NULL
         ORDER BY state <> 'submitted', v.updated_at DESC, v.id LIMIT 500"
    ))?;
    Ok(statement
        .query_map(params_from_iter(args), |r| Ok((visit_row(r)?, r.get(VISIT_COLUMN_COUNT)?)))?
        .collect::<Result<Vec<_>, _>>()?)
}

/// Stores register rows, new or replacing, in the caller's transaction.
pub(super) fn import_register(tx: &Connection, rows: &[RegisterRow], actor: &str) -> Result<(), StoreError> {
    let mut before = tx.prepare_cached("SELECT state, merchant FROM terminal_register WHERE serial = ?1")?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO terminal_register (serial, model, manufacturer, merchant, merchant_number, state,
            production_date, warranty_end, sim_iccid, sim_carrier, sim_expiry, imported_at, lat_e6, lon_e6)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (serial) DO UPDATE SET model = ?2, manufacturer = ?3, merchant = ?4,
            merchant_number = ?5, state = ?6, production_date = ?7, warranty_end = ?8, sim_iccid = ?9,
            sim_carrier = ?10, sim_expiry = ?11, imported_at = ?12,
            lat_e6 = CASE WHEN ?13 IS NOT NULL THEN ?13 WHEN merchant_number IS ?5 THEN lat_e6 END,
            lon_e6 = CASE WHEN ?14 IS NOT NULL THEN ?14 WHEN merchant_number IS ?5 THEN lon_e6 END",
    )?;
    // An import that changes a terminal's state or merchant is a change of
    // the register like a visit's: the terminal's page shows it.
    let mut event = tx.prepare_cached(
        "INSERT INTO terminal_events (serial, visit_id, cause, event, from_state, to_state, detail, at, actor)
         VALUES (?1, '', 'import', NULL, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let at = now();
    for row in rows {
        let was: Option<(String, Option<String>)> =
            before.query_row([&row.serial], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
        insert.execute(params![
            row.serial,
            row.model,
            row.manufacturer,
            row.merchant,
            row.merchant_number,
            row.state,
            row.production_date,
            row.warranty_end,
            row.sim_iccid,
            row.sim_carrier,
            row.sim_expiry,
            at,
            row.lat_e6,
            row.lon_e6
        ])?;
        if let Some((state, merchant)) = was
            && (state != row.state || merchant != row.merchant)
        {
            let detail = format!(
                "登记表导入 / register import: {} → {}",
                merchant.unwrap_or_default(),
                row.merchant.clone().unwrap_or_default()
            );
            event.execute(params![row.serial, state, row.state, detail, at, actor])?;
        }
    }
    Ok(())
}
