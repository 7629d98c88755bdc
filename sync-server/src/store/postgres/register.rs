//! The SQL of the register following the visits: what the register holds
//! of a decision's terminals, the write of its plan (once per visit and
//! cause, only over the states it was made from, the rows locked), and
//! each terminal's changes.

use std::collections::BTreeMap;

use deadpool_postgres::GenericClient;
use posfield_shared::lifecycle::TerminalState;
use posfield_shared::visit::outcome::{Binding, Holder, Registered, SimChange, TerminalChange};
use posfield_shared::vocab::Term;

use super::{execute, limit_of, query, query_one, query_opt};
use crate::clock::now;
use crate::store::{CheckIn, CustodyRow, HolderNow, RegisterWrite, StoreError, TerminalEventRow};

/// What the register holds of each of `serials` it knows. A row whose state
/// this version does not know (written by a newer server) is an error: no
/// decision is planned over a state it cannot judge.
pub(super) async fn registered<C: GenericClient>(
    c: &C,
    serials: &[String],
) -> Result<BTreeMap<String, Registered>, StoreError> {
    let mut found = BTreeMap::new();
    for serial in serials {
        let row = query_opt(
            c,
            "SELECT state, merchant, merchant_number, sim_iccid, sim_carrier, sim_expiry, holder_kind, holder_name
             FROM terminal_register WHERE serial = $1",
            &[serial],
        )
        .await?;
        let Some(r) = row else { continue };
        let code: String = r.try_get(0)?;
        let state = TerminalState::from_code(&code).ok_or_else(|| {
            StoreError::Engine(format!(
                "terminal {serial} is in state {code:?}, which this server does not know"
            ))
        })?;
        found.insert(
            serial.clone(),
            Registered {
                state,
                merchant: r.try_get(1)?,
                merchant_number: r.try_get(2)?,
                sim_iccid: r.try_get(3)?,
                sim_carrier: r.try_get(4)?,
                sim_expiry: r.try_get(5)?,
                holder: holder_of(r.try_get::<_, Option<String>>(6)?.as_deref(), r.try_get(7)?),
            },
        );
    }
    Ok(found)
}

/// Writes `write`'s plan for visit `visit_id` in `c`'s transaction: nothing
/// when the visit's effects of that cause were written before; otherwise
/// every terminal must still be in the state the plan was made from, or
/// nothing is written ([`StoreError::RegisterChanged`]).
pub(super) async fn apply<C: GenericClient>(
    c: &C,
    visit_id: &str,
    write: &RegisterWrite,
) -> Result<(), StoreError> {
    let cause = write.cause.code();
    let done: bool = query_one(
        c,
        "SELECT EXISTS (SELECT 1 FROM register_effects WHERE visit_id = $1 AND cause = $2)",
        &[&visit_id, &cause],
    )
    .await?
    .try_get(0)?;
    if done {
        return Ok(());
    }
    let at = now();
    for change in &write.plan.changes {
        // Locked until the decision commits: no other decision moves the
        // terminal between this check and the write.
        let current: Option<String> = match query_opt(
            c,
            "SELECT state FROM terminal_register WHERE serial = $1 FOR UPDATE",
            &[&change.serial],
        )
        .await?
        {
            Some(row) => Some(row.try_get(0)?),
            None => None,
        };
        if current.as_deref() != change.before.map(|s| s.code()) {
            return Err(StoreError::RegisterChanged(change.serial.clone()));
        }
        write_change(c, visit_id, change, at).await?;
        if let Some(handover) = &change.handover {
            hand_over(
                c,
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
            )
            .await?;
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
            let shown = if i == last { detail.as_str() } else { "" };
            execute(
                c,
                "INSERT INTO terminal_events (serial, visit_id, cause, event, from_state, to_state, detail, at, actor)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[&change.serial, &visit_id, &cause, &event, &from, &to, &shown, &at, &write.actor],
            )
            .await?;
            from = Some(to);
        }
    }
    execute(
        c,
        "INSERT INTO register_effects (visit_id, cause, applied_at, actor) VALUES ($1, $2, $3, $4)",
        &[&visit_id, &cause, &at, &write.actor],
    )
    .await?;
    Ok(())
}

/// The register row of one change: created when the register did not know
/// the terminal, else updated.
async fn write_change<C: GenericClient>(
    c: &C,
    visit_id: &str,
    change: &TerminalChange,
    at: i64,
) -> Result<(), StoreError> {
    let changed_by = format!("visit:{visit_id}");
    if change.before.is_none() {
        execute(
            c,
            "INSERT INTO terminal_register (serial, state, imported_at, changed_by) VALUES ($1, $2, $3, $4)",
            &[&change.serial, &change.from.code(), &at, &changed_by],
        )
        .await?;
    }
    execute(
        c,
        "UPDATE terminal_register SET state = $2, changed_by = $3 WHERE serial = $1",
        &[&change.serial, &change.after().code(), &changed_by],
    )
    .await?;
    if let Some(label) = &change.label {
        // What the label says fills what the register lacks; an import's
        // value stays, and a conflict between them is for the desk to see.
        let produced = label.production_date.map(|d| d.to_string());
        execute(
            c,
            "UPDATE terminal_register SET model = COALESCE(model, $2), manufacturer = COALESCE(manufacturer, $3),
                production_date = COALESCE(production_date, $4) WHERE serial = $1",
            &[&change.serial, &label.model, &label.manufacturer, &produced],
        )
        .await?;
    }
    match &change.binding {
        Binding::Keep => {}
        Binding::Bind { name, number } => {
            execute(
                c,
                "UPDATE terminal_register SET merchant = $2, merchant_number = $3 WHERE serial = $1",
                &[&change.serial, name, number],
            )
            .await?;
        }
        Binding::Unbind => {
            execute(
                c,
                "UPDATE terminal_register SET merchant = NULL, merchant_number = NULL WHERE serial = $1",
                &[&change.serial],
            )
            .await?;
        }
    }
    match &change.sim {
        SimChange::Keep => {}
        SimChange::Set { iccid, carrier, expiry, shared_plan, .. } => {
            execute(
                c,
                "UPDATE terminal_register SET sim_iccid = $2, sim_carrier = $3, sim_expiry = $4, sim_shared_plan = $5
                 WHERE serial = $1",
                &[&change.serial, iccid, carrier, expiry, shared_plan],
            )
            .await?;
            // What visits recorded is shown before the import's: it must
            // say what the approval said.
            execute(
                c,
                "UPDATE terminals SET sim_iccid = $2, sim_carrier = $3, sim_expiry = $4 WHERE serial = $1",
                &[&change.serial, iccid, carrier, expiry],
            )
            .await?;
        }
        SimChange::Remove => {
            execute(
                c,
                "UPDATE terminal_register SET sim_iccid = NULL, sim_carrier = NULL, sim_expiry = NULL,
                    sim_shared_plan = FALSE WHERE serial = $1",
                &[&change.serial],
            )
            .await?;
        }
    }
    if let Some(day) = change.in_service_since {
        execute(
            c,
            "UPDATE terminal_register SET in_service_since = $2 WHERE serial = $1",
            &[&change.serial, &day.to_string()],
        )
        .await?;
    }
    if let Some(day) = change.inspected_on {
        execute(
            c,
            "UPDATE terminal_register SET last_inspected = $2 WHERE serial = $1",
            &[&change.serial, &day.to_string()],
        )
        .await?;
    }
    Ok(())
}

/// The register's changes of one terminal, oldest first (the newest `limit`).
pub(super) async fn terminal_events<C: GenericClient>(
    c: &C,
    serial: &str,
    limit: usize,
) -> Result<Vec<TerminalEventRow>, StoreError> {
    let rows = query(
        c,
        "SELECT serial, visit_id, cause, event, from_state, to_state, detail, at, actor FROM (
            SELECT * FROM terminal_events WHERE serial = $1 ORDER BY id DESC LIMIT $2
         ) newest ORDER BY id",
        &[&serial, &limit_of(limit)],
    )
    .await?;
    rows.iter()
        .map(|r| {
            Ok(TerminalEventRow {
                serial: r.try_get(0)?,
                visit_id: r.try_get(1)?,
                cause: r.try_get(2)?,
                event: r.try_get(3)?,
                from_state: r.try_get(4)?,
                to_state: r.try_get(5)?,
                detail: r.try_get(6)?,
                at: r.try_get(7)?,
                actor: r.try_get(8)?,
            })
        })
        .collect()
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
async fn hand_over<C: GenericClient>(
    c: &C,
    serial: &str,
    custody: Custody<'_>,
    recorded_at: i64,
) -> Result<(), StoreError> {
    let from_kind = custody.from.map(Holder::kind);
    let from_name = custody.from.map_or("", Holder::name);
    let (to_kind, to_name) = (custody.to.kind(), custody.to.name());
    execute(
        c,
        "INSERT INTO custody_events (serial, from_kind, from_name, to_kind, to_name, at, place, condition, seal,
            visit_id, confirmed_by, promised_back, recorded_at, photo)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        &[
            &serial,
            &from_kind,
            &from_name,
            &to_kind,
            &to_name,
            &custody.at,
            &custody.place,
            &custody.condition,
            &custody.seal,
            &custody.visit_id,
            &custody.confirmed_by,
            &custody.promised_back,
            &recorded_at,
            &custody.photo,
        ],
    )
    .await?;
    // The chain keeps every hand-over. A visit's hand-over to its agent,
    // approved after the warehouse or the repair centre already received the
    // terminal, is history: it does not give the terminal back to the agent.
    // (Its date is the phone's, so it is not compared with the check-in's.)
    let by_visit = custody.visit_id.is_some();
    execute(
        c,
        "UPDATE terminal_register SET holder_kind = $2, holder_name = $3, held_since = $4, promised_back = $5
         WHERE serial = $1
           AND NOT ($6 AND $2 = 'agent' AND COALESCE(holder_kind, '') IN ('warehouse', 'repair_centre'))",
        &[&serial, &to_kind, &to_name, &custody.at, &custody.promised_back, &by_visit],
    )
    .await?;
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

/// Records a check-in in `c`'s transaction ([`crate::store::Store::check_in`]).
pub(super) async fn check_in<C: GenericClient>(c: &C, check_in: &CheckIn) -> Result<(), StoreError> {
    let row = query_opt(
        c,
        "SELECT state, holder_kind, holder_name FROM terminal_register WHERE serial = $1 FOR UPDATE",
        &[&check_in.serial],
    )
    .await?;
    let Some(row) = row else {
        return Err(StoreError::RegisterChanged(check_in.serial.clone()));
    };
    let (state, holder_kind, holder_name): (String, Option<String>, String) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    if state != check_in.state.code() {
        return Err(StoreError::RegisterChanged(check_in.serial.clone()));
    }
    let at = check_in.at_time;
    let from = holder_of(holder_kind.as_deref(), holder_name);
    let confirmed_by = format!("入库确认 / checked in by {}", check_in.actor);
    hand_over(
        c,
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
    )
    .await?;
    if let Some(event) = check_in.event {
        let to = check_in.state.apply(event).map_err(|e| StoreError::Engine(e.to_string()))?;
        execute(
            c,
            "UPDATE terminal_register SET state = $2, changed_by = 'check_in' WHERE serial = $1",
            &[&check_in.serial, &to.code()],
        )
        .await?;
        let detail = format!("{}：{}", check_in.at.kind(), check_in.condition);
        execute(
            c,
            "INSERT INTO terminal_events (serial, visit_id, cause, event, from_state, to_state, detail, at, actor)
             VALUES ($1, '', 'check_in', $2, $3, $4, $5, $6, $7)",
            &[&check_in.serial, &event.code(), &check_in.state.code(), &to.code(), &detail, &at, &check_in.actor],
        )
        .await?;
    }
    super::audit(c, &check_in.audit).await?;
    super::outbox::enqueue(c, &check_in.messages, at).await?;
    Ok(())
}

/// Who holds a terminal now and its hand-overs, oldest first (the newest `limit`).
pub(super) async fn custody<C: GenericClient>(
    c: &C,
    serial: &str,
    limit: usize,
) -> Result<(HolderNow, Vec<CustodyRow>), StoreError> {
    let holder = match query_opt(
        c,
        "SELECT holder_kind, holder_name, held_since, promised_back FROM terminal_register WHERE serial = $1",
        &[&serial],
    )
    .await?
    {
        Some(r) => HolderNow {
            kind: r.try_get(0)?,
            name: r.try_get(1)?,
            since: r.try_get(2)?,
            promised_back: r.try_get(3)?,
        },
        None => HolderNow::default(),
    };
    let rows = query(
        c,
        "SELECT from_kind, from_name, to_kind, to_name, at, place, condition, seal, visit_id, confirmed_by,
            promised_back FROM (SELECT * FROM custody_events WHERE serial = $1 ORDER BY id DESC LIMIT $2) newest
         ORDER BY id",
        &[&serial, &limit_of(limit)],
    )
    .await?;
    let rows = rows
        .iter()
        .map(|r| {
            Ok(CustodyRow {
                from_kind: r.try_get(0)?,
                from_name: r.try_get(1)?,
                to_kind: r.try_get(2)?,
                to_name: r.try_get(3)?,
                at: r.try_get(4)?,
                place: r.try_get(5)?,
                condition: r.try_get(6)?,
                seal: r.try_get(7)?,
                visit_id: r.try_get(8)?,
                confirmed_by: r.try_get(9)?,
                promised_back: r.try_get(10)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok((holder, rows))
}
