//! The SQL of the register following the visits: what the register holds
//! of a decision's terminals, the write of its plan (once per visit and
//! cause, only over the states it was made from), and each terminal's
//! changes.

use std::collections::BTreeMap;

use posfield_shared::lifecycle::TerminalState;
use posfield_shared::visit::outcome::{Binding, Holder, Registered, SimChange, TerminalChange};
use posfield_shared::vocab::Term;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::clock::now;
use crate::store::{CheckIn, CustodyRow, HolderNow, RegisterWrite, StoreError, TerminalEventRow};

/// What the register holds of each of `serials` it knows. A row whose state
/// this version does not know (written by a newer server) is an error: no
/// decision is planned over a state it cannot judge.
pub(super) fn registered(
    conn: &Connection,
    serials: &[String],
) -> Result<BTreeMap<String, Registered>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT state, merchant, merchant_number, sim_iccid, sim_carrier, sim_expiry, holder_kind, holder_name
         FROM terminal_register WHERE serial = ?1",
    )?;
    let mut found = BTreeMap::new();
    for serial in serials {
        let row = statement
            .query_row([serial], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Registered {
                        state: TerminalState::InStock,
                        merchant: r.get(1)?,
                        merchant_number: r.get(2)?,
                        sim_iccid: r.get(3)?,
                        sim_carrier: r.get(4)?,
                        sim_expiry: r.get(5)?,
                        holder: holder_of(r.get::<_, Option<String>>(6)?.as_deref(), r.get(7)?),
                    },
                ))
            })
            .optional()?;
        if let Some((code, registered)) = row {
            let state = TerminalState::from_code(&code).ok_or_else(|| {
                StoreError::Engine(format!(
                    "terminal {serial} is in state {code:?}, which this server does not know"
                ))
            })?;
            found.insert(serial.clone(), Registered { state, ..registered });
        }
    }
    Ok(found)
}

/// Writes `write`'s plan for visit `visit_id` in `tx`: nothing when the
/// visit's effects of that cause were written before; otherwise every
/// terminal must still be in the state the plan was made from, or nothing
/// is written ([`StoreError::RegisterChanged`]).
pub(super) fn apply(tx: &Transaction<'_>, visit_id: &str, write: &RegisterWrite) -> Result<(), StoreError> {
    let cause = write.cause.code();
    let done: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM register_effects WHERE visit_id = ?1 AND cause = ?2)")?
        .query_row(params![visit_id, cause], |r| r.get(0))?;
    if done {
        return Ok(());
    }
    let at = now();
    for change in &write.plan.changes {
        let current: Option<String> = tx
            .prepare_cached("SELECT state FROM terminal_register WHERE serial = ?1")?
            .query_row([&change.serial], |r| r.get(0))
            .optional()?;
        if current.as_deref() != change.before.map(|s| s.code()) {
            return Err(StoreError::RegisterChanged(change.serial.clone()));
        }
        write_change(tx, visit_id, change, at)?;
        if let Some(handover) = &change.handover {
            hand_over(
                tx,
                &change.serial,
                Custody {
                    from: Some(&handover.from),
                    to: &handover.to,
                    at: handover.at.seconds(),
                    place: &handover.place,
                    condition: &handover.condition,
                    seal: &handover.seal,
                    photo: handover.photo.as_deref(),
                    visit_id: Some(visit_id),
                    confirmed_by: &handover.receipt,
                    promised_back: None,
                },
                at,
            )?;
        }
        let detail = change.detail();
        let mut from = change.before.map(|s| s.code().to_owned());
        let mut event_rows: Vec<(Option<&str>, String)> =
            change.events.iter().map(|(e, to)| (Some(e.code()), to.code().to_owned())).collect();
        if event_rows.is_empty() {
            event_rows.push((None, change.after().code().to_owned()));
        }
        let last = event_rows.len() - 1;
        for (i, (event, to)) in event_rows.into_iter().enumerate() {
            tx.prepare_cached(
                "INSERT INTO terminal_events (serial, visit_id, cause, event, from_state, to_state, detail, at, actor)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                change.serial,
                visit_id,
                cause,
                event,
                from,
                to,
                if i == last { detail.as_str() } else { "" },
                at,
                write.actor
            ])?;
            from = Some(to);
        }
    }
    tx.prepare_cached(
        "INSERT INTO register_effects (visit_id, cause, applied_at, actor) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![visit_id, cause, at, write.actor])?;
    Ok(())
}

/// The register row of one change: created when the register did not know
/// the terminal, else updated.
fn write_change(
    tx: &Transaction<'_>,
    visit_id: &str,
    change: &TerminalChange,
    at: i64,
) -> Result<(), StoreError> {
    if change.before.is_none() {
        tx.prepare_cached(
            "INSERT INTO terminal_register (serial, state, imported_at, changed_by) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![change.serial, change.from.code(), at, format!("visit:{visit_id}")])?;
    }
    tx.prepare_cached("UPDATE terminal_register SET state = ?2, changed_by = ?3 WHERE serial = ?1")?
        .execute(params![change.serial, change.after().code(), format!("visit:{visit_id}")])?;
    if let Some(label) = &change.label {
        // What the label says fills what the register lacks; an import's
        // value stays, and a conflict between them is for the desk to see.
        tx.prepare_cached(
            "UPDATE terminal_register SET model = COALESCE(model, ?2), manufacturer = COALESCE(manufacturer, ?3),
                production_date = COALESCE(production_date, ?4) WHERE serial = ?1",
        )?
        .execute(params![
            change.serial,
            label.model,
            label.manufacturer,
            label.production_date.map(|d| d.to_string())
        ])?;
    }
    match &change.binding {
        Binding::Keep => {}
        Binding::Bind { name, number } => {
            tx.prepare_cached(
                "UPDATE terminal_register SET merchant = ?2, merchant_number = ?3 WHERE serial = ?1",
            )?
            .execute(params![change.serial, name, number])?;
        }
        Binding::Unbind => {
            tx.prepare_cached(
                "UPDATE terminal_register SET merchant = NULL, merchant_number = NULL WHERE serial = ?1",
            )?
            .execute([&change.serial])?;
        }
    }
    match &change.sim {
        SimChange::Keep => {}
        SimChange::Set { iccid, carrier, expiry, shared_plan, .. } => {
            tx.prepare_cached(
                "UPDATE terminal_register SET sim_iccid = ?2, sim_carrier = ?3, sim_expiry = ?4, sim_shared_plan = ?5
                 WHERE serial = ?1",
            )?
            .execute(params![change.serial, iccid, carrier, expiry, shared_plan])?;
            // What visits recorded is shown before the import's: it must
            // say what the approval said.
            tx.prepare_cached(
                "UPDATE terminals SET sim_iccid = ?2, sim_carrier = ?3, sim_expiry = ?4 WHERE serial = ?1",
            )?
            .execute(params![change.serial, iccid, carrier, expiry])?;
        }
        SimChange::Remove => {
            tx.prepare_cached(
                "UPDATE terminal_register SET sim_iccid = NULL, sim_carrier = NULL, sim_expiry = NULL,
                    sim_shared_plan = 0 WHERE serial = ?1",
            )?
            .execute([&change.serial])?;
        }
    }
    if let Some(day) = change.in_service_since {
        tx.prepare_cached("UPDATE terminal_register SET in_service_since = ?2 WHERE serial = ?1")?
            .execute(params![change.serial, day.to_string()])?;
    }
    if let Some(day) = change.inspected_on {
        tx.prepare_cached("UPDATE terminal_register SET last_inspected = ?2 WHERE serial = ?1")?
            .execute(params![change.serial, day.to_string()])?;
    }
    Ok(())
}

/// The register's changes of one terminal, oldest first (the newest `limit`).
pub(super) fn terminal_events(
    conn: &Connection,
    serial: &str,
    limit: usize,
) -> Result<Vec<TerminalEventRow>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT serial, visit_id, cause, event, from_state, to_state, detail, at, actor FROM (
            SELECT * FROM terminal_events WHERE serial = ?1 ORDER BY id DESC LIMIT ?2
         ) ORDER BY id",
    )?;
    let rows = statement
        .query_map(params![serial, limit as i64], |r| {
            Ok(TerminalEventRow {
                serial: r.get(0)?,
                visit_id: r.get(1)?,
                cause: r.get(2)?,
                event: r.get(3)?,
                from_state: r.get(4)?,
                to_state: r.get(5)?,
                detail: r.get(6)?,
                at: r.get(7)?,
                actor: r.get(8)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// One hand-over to record.
struct Custody<'a> {
    from: Option<&'a Holder>,
    to: &'a Holder,
    at: i64,
    place: &'a str,
    condition: &'a str,
    seal: &'a str,
    photo: Option<&'a str>,
    visit_id: Option<&'a str>,
    confirmed_by: &'a str,
    promised_back: Option<&'a str>,
}

/// Records a hand-over of `serial` and makes its receiver the holder.
fn hand_over(
    tx: &Transaction<'_>,
    serial: &str,
    custody: Custody<'_>,
    recorded_at: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO custody_events (serial, from_kind, from_name, to_kind, to_name, at, place, condition, seal,
            visit_id, confirmed_by, promised_back, recorded_at, photo)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        serial,
        custody.from.map(Holder::kind),
        custody.from.map_or("", Holder::name),
        custody.to.kind(),
        custody.to.name(),
        custody.at,
        custody.place,
        custody.condition,
        custody.seal,
        custody.visit_id,
        custody.confirmed_by,
        custody.promised_back,
        recorded_at,
        custody.photo
    ])?;
    // The chain keeps every hand-over. A visit's hand-over to its agent,
    // approved after the warehouse or the repair centre already received the
    // terminal, is history: it does not give the terminal back to the agent.
    // (Its date is the phone's, so it is not compared with the check-in's.)
    tx.prepare_cached(
        "UPDATE terminal_register SET holder_kind = ?2, holder_name = ?3, held_since = ?4, promised_back = ?5
         WHERE serial = ?1
           AND NOT (?6 AND ?2 = 'agent' AND COALESCE(holder_kind, '') IN ('warehouse', 'repair_centre'))",
    )?
    .execute(params![
        serial,
        custody.to.kind(),
        custody.to.name(),
        custody.at,
        custody.promised_back,
        custody.visit_id.is_some()
    ])?;
    Ok(())
}

/// The holder a register row names.
fn holder_of(kind: Option<&str>, name: String) -> Option<Holder> {
    match kind? {
        "merchant" => Some(Holder::Merchant(name)),
        "agent" => Some(Holder::Agent(name)),
        "warehouse" => Some(Holder::Warehouse),
        "repair_centre" => Some(Holder::RepairCentre),
        _ => None,
    }
}

/// Records a check-in in `tx` ([`crate::store::Store::check_in`]).
pub(super) fn check_in(tx: &Transaction<'_>, check_in: &CheckIn) -> Result<(), StoreError> {
    let row: Option<(String, Option<String>, String)> = tx
        .prepare_cached("SELECT state, holder_kind, holder_name FROM terminal_register WHERE serial = ?1")?
        .query_row([&check_in.serial], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((state, holder_kind, holder_name)) = row else {
        return Err(StoreError::RegisterChanged(check_in.serial.clone()));
    };
    if state != check_in.state.code() {
        return Err(StoreError::RegisterChanged(check_in.serial.clone()));
    }
    let at = check_in.at_time;
    let from = holder_of(holder_kind.as_deref(), holder_name);
    let confirmed_by = format!("入库确认 / checked in by {}", check_in.actor);
    hand_over(
        tx,
        &check_in.serial,
        Custody {
            from: from.as_ref(),
            to: &check_in.at,
            at,
            place: "",
            condition: &check_in.condition,
            seal: &check_in.seal,
            photo: None,
            visit_id: None,
            confirmed_by: &confirmed_by,
            promised_back: check_in.promised_back.as_deref(),
        },
        at,
    )?;
    if let Some(event) = check_in.event {
        let to = check_in.state.apply(event).map_err(|e| StoreError::Engine(e.to_string()))?;
        tx.prepare_cached(
            "UPDATE terminal_register SET state = ?2, changed_by = 'check_in' WHERE serial = ?1",
        )?
        .execute(params![check_in.serial, to.code()])?;
        tx.prepare_cached(
            "INSERT INTO terminal_events (serial, visit_id, cause, event, from_state, to_state, detail, at, actor)
             VALUES (?1, '', 'check_in', ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            check_in.serial,
            event.code(),
            check_in.state.code(),
            to.code(),
            format!("{}：{}", check_in.at.kind(), check_in.condition),
            at,
            check_in.actor
        ])?;
    }
    super::audit(tx, &check_in.audit)?;
    super::outbox::enqueue(tx, &check_in.messages, at)?;
    Ok(())
}

/// Who holds a terminal now and its hand-overs, oldest first (the newest `limit`).
pub(super) fn custody(
    conn: &Connection,
    serial: &str,
    limit: usize,
) -> Result<(HolderNow, Vec<CustodyRow>), StoreError> {
    let holder = conn
        .prepare_cached(
            "SELECT holder_kind, holder_name, held_since, promised_back FROM terminal_register WHERE serial = ?1",
        )?
        .query_row([serial], |r| {
            Ok(HolderNow { kind: r.get(0)?, name: r.get(1)?, since: r.get(2)?, promised_back: r.get(3)? })
        })
        .optional()?
        .unwrap_or_default();
    let mut statement = conn.prepare_cached(
        "SELECT from_kind, from_name, to_kind, to_name, at, place, condition, seal, visit_id, confirmed_by,
            promised_back FROM (SELECT * FROM custody_events WHERE serial = ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id",
    )?;
    let rows = statement
        .query_map(params![serial, limit as i64], |r| {
            Ok(CustodyRow {
                from_kind: r.get(0)?,
                from_name: r.get(1)?,
                to_kind: r.get(2)?,
                to_name: r.get(3)?,
                at: r.get(4)?,
                place: r.get(5)?,
                condition: r.get(6)?,
                seal: r.get(7)?,
                visit_id: r.get(8)?,
                confirmed_by: r.get(9)?,
                promised_back: r.get(10)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((holder, rows))
}
