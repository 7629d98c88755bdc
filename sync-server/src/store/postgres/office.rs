//! The SQL of the projections and the back office's lists and alerts.
//!
//! Lists page by key (`updated_at`, `id`), never by offset, and every filter
//! has an index ordered like the list (the schema's `visits_by_*`). Each
//! query scoped to a principal starts its conditions with the access rule
//! ([`super::reach`]), whose parameter is 1.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{Args, audit, execute, limit_of, query, query_one, query_opt};
use crate::clock::now;
use crate::store::{
    ALERT_ROWS, AlertList, AlertWindow, Alerts, AuditEntry, CountersignatureFact, MerchantMatch, Principal,
    ProjectionRow, RegisterRow, SignerDevice, SigningDevice, StoreError, TerminalAlert, TerminalRow,
    VisitFacts, VisitPage, VisitQuery, VisitRow,
};

const VISIT_COLUMNS: &str = "v.id, v.kind, v.status, v.merchant, v.merchant_number, v.serial, v.assignee, \
     v.created_at, v.updated_at, v.blobs_missing, v.merchant_phone";

/// How many columns [`VISIT_COLUMNS`] names: a query that selects more after
/// them reads its own from this index on.
const VISIT_COLUMN_COUNT: usize = 11;

/// A reactivation visit's application state, from its office fields.
const APPLICATION_STATE: &str = "(v.office::jsonb #>> '{application,state}')";

fn visit_row(r: &Row) -> Result<VisitRow, StoreError> {
    Ok(VisitRow {
        id: r.try_get(0)?,
        kind: r.try_get(1)?,
        status: r.try_get(2)?,
        merchant: r.try_get(3)?,
        merchant_number: r.try_get(4)?,
        serial: r.try_get(5)?,
        assignee: r.try_get(6)?,
        created_at: r.try_get(7)?,
        updated_at: r.try_get(8)?,
        blobs_missing: r.try_get(9)?,
        merchant_phone: r.try_get::<_, Option<String>>(VISIT_COLUMN_COUNT - 1)?.filter(|p| !p.is_empty()),
    })
}

fn visit_rows(rows: &[Row]) -> Result<Vec<VisitRow>, StoreError> {
    rows.iter().map(visit_row).collect()
}

/// `text` as a pattern of `ILIKE ... ESCAPE '\'` that matches it anywhere,
/// taken literally. ILIKE over the columns' bytewise collation folds ASCII
/// letters alone, as SQLite's LIKE does.
fn like_pattern(text: &str) -> String {
    let escaped: String = text
        .chars()
        .flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] })
        .collect();
    format!("%{escaped}%")
}

/// Writes, in `c`'s transaction, a visit's projection row, the blobs it
/// refers to, its terminal and the countersignature of a new acceptance.
/// The caller holds the locks of the row's blobs ([`super::lock_blobs`]).
pub(super) async fn write_projection<C: GenericClient>(c: &C, row: ProjectionRow) -> Result<(), StoreError> {
    if let Some(write) = &row.register {
        super::register::apply(c, &row.id, write).await?;
    }
    let mut heads = row.heads.clone();
    heads.sort();
    let heads = heads.join(",");
    execute(c, "DELETE FROM visit_blobs WHERE visit_id = $1", &[&row.id]).await?;
    for sha in &row.blobs {
        execute(
            c,
            "INSERT INTO visit_blobs (visit_id, sha256) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&row.id, sha],
        )
        .await?;
    }
    let missing: i64 = query_one(
        c,
        "SELECT count(*) FROM visit_blobs vb WHERE vb.visit_id = $1
         AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = vb.sha256)",
        &[&row.id],
    )
    .await?
    .try_get(0)?;
    let phone = row.merchant_phone.clone().unwrap_or_default();
    execute(
        c,
        "INSERT INTO visits (id, owner, kind, status, merchant, merchant_number, serial, assignee, created_by,
            created_at, updated_at, heads, office, blobs_missing, sim_iccid, sim_expiry, merchant_phone,
            arrived_at, completed_at, dispatched_serial)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
         ON CONFLICT (id) DO UPDATE SET kind = $3, status = $4, merchant = $5, merchant_number = $6,
            serial = $7, assignee = $8, updated_at = $11, heads = $12, office = $13, blobs_missing = $14,
            sim_iccid = $15, sim_expiry = $16, merchant_phone = $17, arrived_at = $18, completed_at = $19,
            dispatched_serial = $20",
        &[
            &row.id,
            &row.owner,
            &row.kind,
            &row.status,
            &row.merchant,
            &row.merchant_number,
            &row.serial,
            &row.assignee,
            &row.created_by,
            &row.created_at,
            &row.updated_at,
            &heads,
            &row.office,
            &missing,
            &row.sim_iccid,
            &row.sim_expiry,
            &phone,
            &row.arrived_at,
            &row.completed_at,
            &row.dispatched_serial,
        ],
    )
    .await?;
    if let Some(serial) = &row.serial {
        execute(
            c,
            "INSERT INTO terminals AS t (serial, merchant, sim_iccid, sim_carrier, sim_expiry, last_visit, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (serial) DO UPDATE SET merchant = $2, sim_iccid = COALESCE($3, t.sim_iccid),
                sim_carrier = COALESCE($4, t.sim_carrier), sim_expiry = COALESCE($5, t.sim_expiry),
                last_visit = $6, updated_at = $7
             WHERE excluded.updated_at >= t.updated_at",
            &[serial, &row.merchant, &row.sim_iccid, &row.sim_carrier, &row.sim_expiry, &row.id, &row.updated_at],
        )
        .await?;
    }
    if let Some(pending) = row.countersign {
        let known: bool = query_one(
            c,
            "SELECT EXISTS (SELECT 1 FROM countersignatures WHERE visit_id = $1 AND content_hash = $2)",
            &[&row.id, &pending.content_hash],
        )
        .await?
        .try_get(0)?;
        if !known {
            // The device by the server's own id (its primary key): exactly
            // one, never chosen by a phone.
            let mut device = match query_opt(
                c,
                "SELECT agent, client_device_id, public_key FROM devices WHERE id = $1",
                &[&pending.device_id],
            )
            .await?
            {
                Some(r) => Some(SigningDevice {
                    id: pending.device_id.clone(),
                    agent: r.try_get(0)?,
                    client_device_id: r.try_get(1)?,
                    public_key: r.try_get(2)?,
                    earlier_keys: Vec::new(),
                }),
                None => None,
            };
            if let Some(device) = &mut device {
                device.earlier_keys = super::earlier_keys(c, &device.id).await?;
            }
            let signed = (pending.sign)(device.as_ref());
            execute(
                c,
                "INSERT INTO countersignatures (visit_id, content_hash, strokes_sha256, image_sha256, device_id,
                    device_signature_valid, server_signature, received_at, signing_device, server_public_key,
                    device_public_key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    &row.id,
                    &signed.content_hash,
                    &signed.strokes_sha256,
                    &signed.image_sha256,
                    &signed.device_id,
                    &signed.device_signature_valid,
                    &signed.server_signature,
                    &signed.received_at,
                    &pending.device_id,
                    &signed.server_public_key,
                    &signed.device_public_key,
                ],
            )
            .await?;
            if !signed.device_signature_valid {
                let entry = AuditEntry::new(
                    Some(&row.id),
                    &signed.device_id,
                    "acceptance_signature_invalid",
                    &signed.content_hash,
                );
                audit(c, &entry).await?;
            }
        }
    }
    Ok(())
}

/// Missing blobs of a visit, and whether the device's acceptance signature verified.
pub(super) async fn visit_facts<C: GenericClient>(
    c: &C,
    reach: &str,
    mut args: Args,
    visit_id: &str,
) -> Result<VisitFacts, StoreError> {
    let visit = args.add(visit_id.to_owned());
    let rows = query(
        c,
        &format!(
            "SELECT vb.sha256 FROM visit_blobs vb JOIN visits v ON v.id = vb.visit_id
             WHERE {reach} AND vb.visit_id = {visit}
               AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = vb.sha256)
             ORDER BY vb.sha256"
        ),
        &args.refs(),
    )
    .await?;
    let missing_blobs = rows.iter().map(|r| r.try_get(0)).collect::<Result<Vec<String>, _>>()?;
    // The newest by insertion (its id), not by arrival second: two
    // acceptances countersigned in one second are still told apart.
    let row = query_opt(
        c,
        &format!(
            "SELECT cs.content_hash, cs.device_signature_valid, cs.received_at,
                    d.id, d.agent, d.name, COALESCE(cs.device_public_key, d.public_key), d.created_at,
                    cs.server_signature, cs.server_public_key
             FROM countersignatures cs JOIN visits v ON v.id = cs.visit_id
             LEFT JOIN devices d ON d.id = cs.signing_device
             WHERE {reach} AND cs.visit_id = {visit} ORDER BY cs.id DESC LIMIT 1"
        ),
        &args.refs(),
    )
    .await?;
    let countersignature = match row {
        None => None,
        Some(r) => {
            let device = match r.try_get::<_, Option<String>>(3)? {
                Some(id) => Some(SignerDevice {
                    id,
                    agent: r.try_get(4)?,
                    name: r.try_get(5)?,
                    public_key: r.try_get(6)?,
                    enrolled_at: r.try_get(7)?,
                }),
                None => None,
            };
            Some(CountersignatureFact {
                content_hash: r.try_get(0)?,
                device_signature_valid: r.try_get(1)?,
                received_at: r.try_get(2)?,
                device,
                server_signature: r.try_get(8)?,
                server_public_key: r.try_get(9)?,
            })
        }
    };
    Ok(VisitFacts { missing_blobs, countersignature })
}

/// A page of visits matching `query`, newest change first, and the key
/// of the next page if there is one.
pub(super) async fn visits<C: GenericClient>(
    c: &C,
    reach: &str,
    mut args: Args,
    query: &VisitQuery,
    limit: usize,
) -> Result<VisitPage, StoreError> {
    let mut sql = format!("SELECT {VISIT_COLUMNS} FROM visits v WHERE {reach}");
    if let Some(status) = &query.status {
        sql.push_str(&format!(" AND v.status = {}", args.add(status.clone())));
    }
    if let Some(kind) = &query.kind {
        sql.push_str(&format!(" AND v.kind = {}", args.add(kind.clone())));
    }
    if let Some(assignee) = &query.assignee {
        sql.push_str(&format!(" AND v.assignee = {}", args.add(assignee.clone())));
    }
    match &query.merchant {
        Some(MerchantMatch::Number(number)) => {
            sql.push_str(&format!(" AND v.merchant_number = {}", args.add(number.clone())));
        }
        Some(MerchantMatch::NameContains(name)) => {
            sql.push_str(&format!(" AND v.merchant ILIKE {} ESCAPE '\\'", args.add(like_pattern(name))));
        }
        None => {}
    }
    if let Some(serial) = &query.serial_prefix {
        sql.push_str(&format!(" AND v.serial >= {}", args.add(serial.clone())));
        sql.push_str(&format!(" AND v.serial < {}", args.add(format!("{serial}\u{10FFFF}"))));
    }
    if let Some(from) = query.updated_from {
        sql.push_str(&format!(" AND v.updated_at >= {}", args.add(from)));
    }
    if let Some(before) = query.updated_before {
        sql.push_str(&format!(" AND v.updated_at < {}", args.add(before)));
    }
    let (before, order) = if query.oldest_first { (">", "ASC") } else { ("<", "DESC") };
    if let Some((at, id)) = &query.after {
        let (at, id) = (args.add(*at), args.add(id.clone()));
        sql.push_str(&format!(" AND (v.updated_at {before} {at} OR (v.updated_at = {at} AND v.id > {id}))"));
    }
    sql.push_str(&format!(
        " ORDER BY v.updated_at {order}, v.id LIMIT {}",
        args.add(limit_of(limit).saturating_add(1))
    ));
    let mut rows = visit_rows(&self::query(c, &sql, &args.refs()).await?)?;
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| (r.updated_at, r.id.clone()))
    } else {
        None
    };
    Ok((rows, next))
}

/// The visits of one terminal, newest first.
pub(super) async fn terminal_visits<C: GenericClient>(
    c: &C,
    reach: &str,
    mut args: Args,
    serial: &str,
) -> Result<Vec<VisitRow>, StoreError> {
    let serial = args.add(serial.to_owned());
    let sql = format!(
        "SELECT {VISIT_COLUMNS} FROM visits v WHERE {reach} AND v.serial = {serial}
         ORDER BY v.updated_at DESC, v.id LIMIT 200"
    );
    visit_rows(&query(c, &sql, &args.refs()).await?)
}

/// The open visits whose terminal is one of `serials`, newest first.
pub(super) async fn open_visits<C: GenericClient>(
    c: &C,
    reach: &str,
    mut args: Args,
    serials: &[String],
) -> Result<Vec<VisitRow>, StoreError> {
    if serials.is_empty() {
        return Ok(Vec::new());
    }
    let serials = serials[..serials.len().min(crate::store::OPEN_VISITS_SERIALS)].to_vec();
    let serials = args.add(serials);
    let open = crate::store::OPEN_STATUSES.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ");
    // The serial shown is the identified one, else the dispatched one.
    let columns = VISIT_COLUMNS.replace("v.serial", "COALESCE(v.serial, v.dispatched_serial)");
    let sql = format!(
        "SELECT {columns} FROM visits v
         WHERE {reach} AND (v.serial = ANY({serials}) OR (v.serial IS NULL AND v.dispatched_serial = ANY({serials})))
           AND v.status IN ({open}) ORDER BY v.updated_at DESC, v.id"
    );
    visit_rows(&query(c, &sql, &args.refs()).await?)
}

/// The dashboard's figures (see [`crate::store::DashboardFigures`]).
pub(super) async fn dashboard<C: GenericClient>(
    c: &C,
    principal: &Principal,
    window: &crate::store::DashboardWindow,
) -> Result<crate::store::DashboardFigures, StoreError> {
    use crate::store::BEIJING_OFFSET_SECS as OFFSET;
    const DAY: i64 = 86_400;
    let (reach, mut args) = super::reach(principal);
    let since = args.add(window.since);
    let sql = format!(
        "SELECT (v.created_at + {OFFSET}) / {DAY} AS day, v.kind, v.assignee, count(*) FROM visits v
         WHERE {reach} AND v.created_at >= {since} GROUP BY day, v.kind, v.assignee"
    );
    let grouped = query(c, &sql, &args.refs())
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
        .collect::<Result<Vec<(i64, String, String, i64)>, StoreError>>()?;
    let (per_day_kind, per_day_agent) = crate::store::split_per_day(grouped);
    let (reach, mut args) = super::reach(principal);
    let [day, three, seven] = [DAY, 3 * DAY, 7 * DAY].map(|ago| args.add(window.now - ago));
    let row = query_one(
        c,
        &format!(
            "SELECT count(*) FILTER (WHERE v.updated_at > {day}),
                    count(*) FILTER (WHERE v.updated_at <= {day} AND v.updated_at > {three}),
                    count(*) FILTER (WHERE v.updated_at <= {three} AND v.updated_at > {seven}),
                    count(*) FILTER (WHERE v.updated_at <= {seven}),
                    min(v.updated_at)
             FROM visits v WHERE {reach} AND v.status = 'completed'"
        ),
        &args.refs(),
    )
    .await?;
    let backlog = [row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?];
    let oldest_waiting = row.try_get(4)?;
    // The SIM alert's two halves, each on its own index.
    let by_visits = "(r.changed_by IS NULL OR r.changed_by = 'import')";
    let sim_expiries = query(
        c,
        &format!(
            "SELECT due, count(*) FROM (
                SELECT t.sim_expiry AS due FROM terminals t LEFT JOIN terminal_register r ON r.serial = t.serial
                WHERE t.sim_expiry >= $1 AND t.sim_expiry <= $2 AND {by_visits} AND {IN_SERVICE}
                UNION ALL
                SELECT r.sim_expiry FROM terminal_register r LEFT JOIN terminals t ON t.serial = r.serial
                WHERE r.sim_expiry >= $1 AND r.sim_expiry <= $2
                  AND (t.sim_expiry IS NULL OR NOT {by_visits}) AND {IN_SERVICE}
             ) AS cards GROUP BY due"
        ),
        &[&window.sim_from, &window.sim_until],
    )
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .collect::<Result<Vec<_>, StoreError>>()?;
    let states = query(c, "SELECT COALESCE(state, ''), count(*) FROM terminal_register GROUP BY state", &[])
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let (reach, mut args) = super::reach(principal);
    let since = args.add(window.since);
    let row = query_one(
        c,
        &format!(
            "SELECT count(*), COALESCE(sum(v.completed_at - v.arrived_at), 0)::bigint FROM visits v
             WHERE {reach} AND v.completed_at >= {since} AND v.arrived_at IS NOT NULL
               AND v.completed_at > v.arrived_at"
        ),
        &args.refs(),
    )
    .await?;
    let arrival_to_completion = (row.try_get(0)?, row.try_get(1)?);
    let repeated_faults = query_one(
        c,
        "SELECT count(*) FROM (SELECT serial FROM visits
         WHERE kind = 'repair' AND serial IS NOT NULL AND updated_at >= $1
         GROUP BY serial HAVING count(*) >= 2) AS repeated",
        &[&window.repairs_since],
    )
    .await?
    .try_get(0)?;
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

fn terminal_row(r: &Row) -> Result<TerminalRow, StoreError> {
    Ok(TerminalRow {
        serial: r.try_get(0)?,
        merchant: r.try_get::<_, Option<String>>(1)?.unwrap_or_default(),
        merchant_number: r.try_get(2)?,
        model: r.try_get(3)?,
        manufacturer: r.try_get(4)?,
        state: r.try_get(5)?,
        production_date: r.try_get(6)?,
        warranty_end: r.try_get(7)?,
        sim_iccid: r.try_get(8)?,
        sim_carrier: r.try_get(9)?,
        sim_expiry: r.try_get(10)?,
        last_visit: r.try_get(11)?,
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
pub(super) async fn terminals<C: GenericClient>(
    c: &C,
    serial: &str,
    merchant: &str,
    after: &str,
    limit: usize,
) -> Result<(Vec<TerminalRow>, Option<String>), StoreError> {
    let serial = serial.trim().to_ascii_uppercase();
    let merchant = merchant.trim();
    let sql = format!(
        "(SELECT {REGISTERED} FROM terminal_register r LEFT JOIN terminals t ON t.serial = r.serial
             WHERE r.serial > $1 AND ($2 = '' OR (r.serial >= $2 AND r.serial < $2 || chr(1114111)))
               AND ($3 = '' OR {MERCHANT} ILIKE $4 ESCAPE '\\')
             ORDER BY r.serial LIMIT $5)
         UNION ALL
         (SELECT {UNREGISTERED} FROM terminals t
             WHERE t.serial > $1 AND ($2 = '' OR (t.serial >= $2 AND t.serial < $2 || chr(1114111)))
               AND ($3 = '' OR t.merchant ILIKE $4 ESCAPE '\\')
               AND NOT EXISTS (SELECT 1 FROM terminal_register r WHERE r.serial = t.serial)
             ORDER BY t.serial LIMIT $5)
         ORDER BY 1 LIMIT $5"
    );
    let page = limit_of(limit).saturating_add(1);
    let rows = query(c, &sql, &[&after, &serial, &merchant, &like_pattern(merchant), &page]).await?;
    let mut rows = rows.iter().map(terminal_row).collect::<Result<Vec<_>, _>>()?;
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| r.serial.clone())
    } else {
        None
    };
    Ok((rows, next))
}

/// The registered terminals of one merchant number, by serial (at most `limit`).
pub(super) async fn merchant_terminals<C: GenericClient>(
    c: &C,
    merchant_number: &str,
    limit: usize,
) -> Result<Vec<TerminalRow>, StoreError> {
    let sql = format!(
        "SELECT {REGISTERED} FROM terminal_register r LEFT JOIN terminals t ON t.serial = r.serial
         WHERE r.merchant_number = $1 ORDER BY r.serial LIMIT $2"
    );
    let rows = query(c, &sql, &[&merchant_number, &limit_of(limit)]).await?;
    rows.iter().map(terminal_row).collect()
}

/// Where the register's latest import with a place puts the shop of `merchant_number`.
pub(super) async fn merchant_place<C: GenericClient>(
    c: &C,
    merchant_number: &str,
) -> Result<Option<(i64, i64)>, StoreError> {
    let row = query_opt(
        c,
        "SELECT lat_e6, lon_e6 FROM terminal_register
         WHERE merchant_number = $1 AND lat_e6 IS NOT NULL AND lon_e6 IS NOT NULL
         ORDER BY imported_at DESC, serial LIMIT 1",
        &[&merchant_number],
    )
    .await?;
    Ok(match row {
        Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
        None => None,
    })
}

/// One terminal.
pub(super) async fn terminal<C: GenericClient>(
    c: &C,
    serial: &str,
) -> Result<Option<TerminalRow>, StoreError> {
    let sql = format!(
        "SELECT {REGISTERED} FROM terminal_register r LEFT JOIN terminals t ON t.serial = r.serial
         WHERE r.serial = $1
         UNION ALL
         SELECT {UNREGISTERED} FROM terminals t
         WHERE t.serial = $1 AND NOT EXISTS (SELECT 1 FROM terminal_register r WHERE r.serial = t.serial)"
    );
    match query_opt(c, &sql, &[&serial]).await? {
        Some(r) => Ok(Some(terminal_row(&r)?)),
        None => Ok(None),
    }
}

/// Every terminal, for the CSV export.
pub(super) async fn all_terminals<C: GenericClient>(c: &C) -> Result<Vec<TerminalRow>, StoreError> {
    let rows = query(c, &format!("SELECT {FLEET_COLUMNS} FROM fleet ORDER BY serial"), &[]).await?;
    rows.iter().map(terminal_row).collect()
}

/// Terminals in service: not taken out of the fleet.
const IN_SERVICE: &str = "(r.state IS NULL OR r.state NOT IN ('deregistered', 'recycled', 'lost'))";

/// The alerts of `window`; terminal alerts' figures other than repairs are
/// left at 0 for the caller.
pub(super) async fn alerts<C: GenericClient>(
    c: &C,
    principal: &Principal,
    window: &AlertWindow,
) -> Result<Alerts, StoreError> {
    let sim_expiring = sim_alert(c, &window.sim_until).await?;
    let old_terminals = register_alert(c, "production_date", "0000-01-01", &window.old_until).await?;
    let warranty_ending = register_alert(c, "warranty_end", &window.today, &window.warranty_until).await?;
    let inspection_due = inspection_alert(c, &window.inspection_until).await?;
    let held_too_long =
        custody_alert(c, "r.holder_kind = 'agent' AND r.held_since <= $1", &window.held_before).await?;
    let recalled_not_checked_in = custody_alert(
        c,
        "r.holder_kind = 'agent' AND r.held_since <= $1 AND r.state = 'recycled'",
        &window.recalled_before,
    )
    .await?;
    let repair_overdue = custody_alert(
        c,
        "r.holder_kind = 'repair_centre' AND r.held_since IS NOT NULL AND r.promised_back < $1",
        &window.today,
    )
    .await?;

    // Read in serial order from the partial index of repairs, once: the
    // total of the groups rides on each row (a window over the groups).
    let repeated = query(
        c,
        &format!(
            "SELECT serial, count(*) AS repairs, count(*) OVER () AS total FROM visits
             WHERE kind = 'repair' AND serial IS NOT NULL AND updated_at >= $1
             GROUP BY serial HAVING count(*) >= 2
             ORDER BY repairs DESC, serial LIMIT {ALERT_ROWS}"
        ),
        &[&window.repairs_since],
    )
    .await?;
    let mut rows = Vec::with_capacity(repeated.len());
    let mut total = 0;
    for row in repeated {
        let (serial, repairs): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
        total = row.try_get(2)?;
        let terminal = terminal(c, &serial).await?.unwrap_or(TerminalRow { serial, ..Default::default() });
        rows.push(TerminalAlert { terminal, date: String::new(), figure: repairs });
    }
    let repeated_faults = AlertList { rows, total };

    // Each visit alert has a partial index holding exactly its rows.
    let waiting = format!("v.kind = 'reactivation' AND {APPLICATION_STATE} = 'submitted'");
    let waiting_applications = visit_alert(c, principal, &waiting).await?;
    let incomplete_blobs = visit_alert(c, principal, "v.blobs_missing > 0").await?;
    let (waiting_review, returned) = review_counts(c, principal).await?;
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
        waiting_review,
        returned,
    })
}

/// The visits `principal` reaches that match `filter`, newest change first.
async fn visit_alert<C: GenericClient>(
    c: &C,
    principal: &Principal,
    filter: &str,
) -> Result<AlertList<VisitRow>, StoreError> {
    let (reach, args) = super::reach(principal);
    let rows = query(
        c,
        &format!(
            "SELECT {VISIT_COLUMNS} FROM visits v WHERE {reach} AND {filter}
             ORDER BY v.updated_at DESC, v.id LIMIT {ALERT_ROWS}"
        ),
        &args.refs(),
    )
    .await?;
    let total =
        query_one(c, &format!("SELECT count(*) FROM visits v WHERE {reach} AND {filter}"), &args.refs())
            .await?;
    Ok(AlertList { rows: visit_rows(&rows)?, total: total.try_get(0)? })
}

/// How many visits `principal` reaches wait for review and were
/// returned, in one pass over the status index.
async fn review_counts<C: GenericClient>(c: &C, principal: &Principal) -> Result<(i64, i64), StoreError> {
    let (reach, args) = super::reach(principal);
    let sql = format!(
        "SELECT count(*) FILTER (WHERE v.status = 'completed'), count(*) FILTER (WHERE v.status = 'returned')
         FROM visits v WHERE {reach} AND v.status IN ('completed', 'returned')"
    );
    let row = query_one(c, &sql, &args.refs()).await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// Registered terminals in service whose register `column` (indexed) lies
/// in [from, to], soonest first.
async fn register_alert<C: GenericClient>(
    c: &C,
    column: &str,
    from: &str,
    to: &str,
) -> Result<AlertList<TerminalAlert>, StoreError> {
    let filter = format!("r.{column} >= $1 AND r.{column} <= $2 AND {IN_SERVICE}");
    let rows = query(
        c,
        &format!(
            "SELECT {REGISTERED}, r.{column} FROM terminal_register r LEFT JOIN terminals t ON t.serial = r.serial
             WHERE {filter} ORDER BY r.{column}, r.serial LIMIT {ALERT_ROWS}"
        ),
        &[&from, &to],
    )
    .await?;
    let rows = rows
        .iter()
        .map(|r| Ok(TerminalAlert { terminal: terminal_row(r)?, date: r.try_get(12)?, figure: 0 }))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let total =
        query_one(c, &format!("SELECT count(*) FROM terminal_register r WHERE {filter}"), &[&from, &to])
            .await?;
    Ok(AlertList { rows, total: total.try_get(0)? })
}

/// Terminals in service whose last inspection (or, never inspected, whose
/// entry into service, or, not known either, whose production) is on or
/// before `until`, most overdue first, from the partial index of the schema.
async fn inspection_alert<C: GenericClient>(
    c: &C,
    until: &str,
) -> Result<AlertList<TerminalAlert>, StoreError> {
    let due = "COALESCE(r.last_inspected, r.in_service_since, r.production_date)";
    let filter = format!("r.state = 'installed' AND {due} <= $1");
    let rows = query(
        c,
        &format!(
            "SELECT {REGISTERED}, {due} FROM terminal_register r LEFT JOIN terminals t ON t.serial = r.serial
             WHERE {filter} ORDER BY {due}, r.serial LIMIT {ALERT_ROWS}"
        ),
        &[&until],
    )
    .await?;
    let rows = rows
        .iter()
        .map(|r| Ok(TerminalAlert { terminal: terminal_row(r)?, date: r.try_get(12)?, figure: 0 }))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let total =
        query_one(c, &format!("SELECT count(*) FROM terminal_register r WHERE {filter}"), &[&until]).await?;
    Ok(AlertList { rows, total: total.try_get(0)? })
}

/// Terminals whose holder matches `filter` (its parameter is 1), held
/// longest first, from the holder index; the alert's date is the day the
/// holder took it (or the repair centre's promised day) and its figure
/// when (Unix seconds); the holder's name is shown as the terminal's merchant.
async fn custody_alert<C: GenericClient>(
    c: &C,
    filter: &str,
    bound: &(dyn tokio_postgres::types::ToSql + Sync),
) -> Result<AlertList<TerminalAlert>, StoreError> {
    let rows = query(
        c,
        &format!(
            "SELECT {REGISTERED}, COALESCE(r.promised_back, ''), r.held_since, r.holder_name
             FROM terminal_register r LEFT JOIN terminals t ON t.serial = r.serial
             WHERE {filter} ORDER BY r.held_since, r.serial LIMIT {ALERT_ROWS}"
        ),
        &[bound],
    )
    .await?;
    let rows = rows
        .iter()
        .map(|r| {
            let promised: String = r.try_get(12)?;
            let since: i64 = r.try_get(13)?;
            let holder: String = r.try_get(14)?;
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
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let total =
        query_one(c, &format!("SELECT count(*) FROM terminal_register r WHERE {filter}"), &[bound]).await?;
    Ok(AlertList { rows, total: total.try_get(0)? })
}

/// SIM cards expiring by `until` (or expired). The expiry a visit recorded
/// wins over the imported one, so the two halves are: terminals whose
/// visit-recorded expiry is due, and registered terminals whose imported
/// expiry is due and no visit recorded one. Each half reads its own index.
async fn sim_alert<C: GenericClient>(c: &C, until: &str) -> Result<AlertList<TerminalAlert>, StoreError> {
    // Once an approval changed a register row, the register's card is the
    // one (a later visit not yet approved does not move the alert).
    let by_visits = "(r.changed_by IS NULL OR r.changed_by = 'import')";
    let from_visits = format!(
        "FROM terminals t LEFT JOIN terminal_register r ON r.serial = t.serial
         WHERE t.sim_expiry <= $1 AND {by_visits} AND {IN_SERVICE}"
    );
    let from_register = format!(
        "FROM terminal_register r LEFT JOIN terminals t ON t.serial = r.serial
         WHERE r.sim_expiry <= $1 AND (t.sim_expiry IS NULL OR NOT {by_visits}) AND {IN_SERVICE}"
    );
    let visits_columns = concat!(
        "t.serial, ",
        merchant!(),
        ", r.merchant_number, r.model, r.manufacturer, r.state, \
         r.production_date, r.warranty_end, COALESCE(t.sim_iccid, r.sim_iccid), \
         COALESCE(t.sim_carrier, r.sim_carrier), t.sim_expiry, t.last_visit, t.sim_expiry AS due"
    );
    let register_columns = concat!(
        "r.serial, ",
        merchant!(),
        ", r.merchant_number, r.model, r.manufacturer, r.state, \
         r.production_date, r.warranty_end, COALESCE(t.sim_iccid, r.sim_iccid), \
         COALESCE(t.sim_carrier, r.sim_carrier), r.sim_expiry, t.last_visit, r.sim_expiry AS due"
    );
    let rows = query(
        c,
        &format!(
            "(SELECT {visits_columns} {from_visits} ORDER BY t.sim_expiry, t.serial LIMIT {ALERT_ROWS})
             UNION ALL
             (SELECT {register_columns} {from_register} ORDER BY r.sim_expiry, r.serial LIMIT {ALERT_ROWS})
             ORDER BY 13, 1 LIMIT {ALERT_ROWS}"
        ),
        &[&until],
    )
    .await?;
    let rows = rows
        .iter()
        .map(|r| Ok(TerminalAlert { terminal: terminal_row(r)?, date: r.try_get(12)?, figure: 0 }))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let total = query_one(
        c,
        &format!("SELECT (SELECT count(*) {from_visits}) + (SELECT count(*) {from_register})"),
        &[&until],
    )
    .await?;
    Ok(AlertList { rows, total: total.try_get(0)? })
}

/// Reactivation visits with an application, waiting ones first.
pub(super) async fn applications<C: GenericClient>(
    c: &C,
    reach: &str,
    args: Args,
) -> Result<Vec<(VisitRow, String)>, StoreError> {
    let sql = format!(
        "SELECT {VISIT_COLUMNS}, {APPLICATION_STATE} FROM visits v
         WHERE {reach} AND v.kind = 'reactivation' AND {APPLICATION_STATE} IS NOT NULL
         ORDER BY {APPLICATION_STATE} <> 'submitted', v.updated_at DESC, v.id LIMIT 500"
    );
    let rows = query(c, &sql, &args.refs()).await?;
    rows.iter().map(|r| Ok((visit_row(r)?, r.try_get(VISIT_COLUMN_COUNT)?))).collect()
}

/// Stores register rows, new or replacing, in `c`'s transaction.
pub(super) async fn import_register<C: GenericClient>(
    c: &C,
    rows: &[RegisterRow],
    actor: &str,
) -> Result<(), StoreError> {
    let at = now();
    for row in rows {
        let was = query_opt(
            c,
            "SELECT state, merchant FROM terminal_register WHERE serial = $1 FOR UPDATE",
            &[&row.serial],
        )
        .await?;
        let was: Option<(String, Option<String>)> = match was {
            Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
            None => None,
        };
        execute(
            c,
            "INSERT INTO terminal_register (serial, model, manufacturer, merchant, merchant_number, state,
                production_date, warranty_end, sim_iccid, sim_carrier, sim_expiry, imported_at, lat_e6, lon_e6)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (serial) DO UPDATE SET model = $2, manufacturer = $3, merchant = $4,
                merchant_number = $5, state = $6, production_date = $7, warranty_end = $8, sim_iccid = $9,
                sim_carrier = $10, sim_expiry = $11, imported_at = $12,
                lat_e6 = CASE WHEN $13::BIGINT IS NOT NULL THEN $13::BIGINT
                    WHEN terminal_register.merchant_number IS NOT DISTINCT FROM $5 THEN terminal_register.lat_e6 END,
                lon_e6 = CASE WHEN $14::BIGINT IS NOT NULL THEN $14::BIGINT
                    WHEN terminal_register.merchant_number IS NOT DISTINCT FROM $5 THEN terminal_register.lon_e6 END",
            &[
                &row.serial,
                &row.model,
                &row.manufacturer,
                &row.merchant,
                &row.merchant_number,
                &row.state,
                &row.production_date,
                &row.warranty_end,
                &row.sim_iccid,
                &row.sim_carrier,
                &row.sim_expiry,
                &at,
                &row.lat_e6,
                &row.lon_e6,
            ],
        )
        .await?;
        // An import that changes a terminal's state or merchant is a change
        // of the register like a visit's: the terminal's page shows it.
        if let Some((state, merchant)) = was
            && (state != row.state || merchant != row.merchant)
        {
            let detail = format!(
                "登记表导入 / register import: {} → {}",
                merchant.unwrap_or_default(),
                row.merchant.clone().unwrap_or_default()
            );
            execute(
                c,
                "INSERT INTO terminal_events (serial, visit_id, cause, event, from_state, to_state, detail, at, actor)
                 VALUES ($1, '', 'import', NULL, $2, $3, $4, $5, $6)",
                &[&row.serial, &state, &row.state, &detail, &at, &actor],
            )
            .await?;
        }
    }
    Ok(())
}
