//! The job's terminal brief: what the register knows of the merchant's
//! terminals, made when the desk gives a visit to an agent and carried in
//! the visit (`assignment.brief`), so the agent sees a terminal's history
//! as soon as it is identified, with no signal.
//!
//! Summaries only. A past visit is its day, kind and state: another
//! agent's photos, faults and signatures never travel to this phone. The
//! alerts are the alerts page's, by the same thresholds
//! ([`crate::office::queries::alert_window`]).

use posfield_shared::visit::schema::{BRIEF_TERMINALS, BRIEF_VISITS};
use posfield_shared::visit::{BriefAlert, PastVisit, SiteBrief, TerminalBrief};
use posfield_shared::vocab::{Open, Term};
use posfield_shared::{CalendarDate, Timestamp, VisitKind};

use crate::store::{Principal, Store, StoreError, TerminalRow};

/// The brief for a visit (`visit_id`, left out of its own history) to
/// `merchant_number` naming `serials`: the named terminals the register
/// knows first (the one the job is for is never crowded out by a chain's
/// other terminals), then the merchant's others by serial, at most
/// [`BRIEF_TERMINALS`]; `None` when the register knows none of them.
pub async fn make(
    store: &dyn Store,
    principal: &Principal,
    visit_id: &str,
    merchant_number: Option<&str>,
    serials: &[String],
    now: Timestamp,
) -> Result<Option<SiteBrief>, StoreError> {
    let mut rows: Vec<TerminalRow> = Vec::new();
    for serial in serials.iter().take(BRIEF_TERMINALS) {
        if !rows.iter().any(|r| &r.serial == serial)
            && let Some(row) = store.terminal(serial).await?
        {
            rows.push(row);
        }
    }
    if let Some(number) = merchant_number {
        for row in store.merchant_terminals(number, BRIEF_TERMINALS).await? {
            if rows.len() < BRIEF_TERMINALS && !rows.iter().any(|r| r.serial == row.serial) {
                rows.push(row);
            }
        }
    }
    if rows.is_empty() {
        return Ok(None);
    }
    let window = crate::office::queries::alert_window(now);
    let mut terminals = Vec::with_capacity(rows.len());
    for row in rows {
        let visits = store.terminal_visits(principal, &row.serial).await?;
        let mut year: Vec<_> = visits.into_iter().filter(|v| v.updated_at >= window.repairs_since).collect();
        year.sort_by_key(|v| std::cmp::Reverse(v.updated_at));
        // The alerts page counts every repair of the year, this job's too.
        let repairs_all = year.iter().filter(|v| v.kind == VisitKind::Repair.code()).count();
        let past: Vec<_> = year.into_iter().filter(|v| v.id != visit_id).collect();
        let repairs = past.iter().filter(|v| v.kind == VisitKind::Repair.code()).count();
        let visits = past
            .iter()
            .take(BRIEF_VISITS)
            .map(|v| PastVisit {
                day: Timestamp::from_seconds(v.updated_at).beijing_date(),
                kind: Open::from_code(&v.kind),
                status: Open::from_code(&v.status),
            })
            .collect();
        terminals.push(terminal_brief(row, visits, (repairs, repairs_all), &window));
    }
    Ok(Some(SiteBrief { made_at: now, terminals }))
}

/// Whether a terminal in the lifecycle state `state` is out of the fleet:
/// the alerts page raises nothing for it, and neither does the brief.
pub fn retired(state: Option<&str>) -> bool {
    matches!(state, Some("deregistered" | "recycled" | "lost"))
}

fn terminal_brief(
    row: TerminalRow,
    visits: Vec<PastVisit>,
    (repairs, repairs_all): (usize, usize),
    window: &crate::store::AlertWindow,
) -> TerminalBrief {
    let date = |text: &Option<String>| text.as_deref().and_then(|t| CalendarDate::parse(t).ok());
    let on = |text: &str| CalendarDate::parse(text).ok();
    let (sim_expiry, warranty_end, production_date) =
        (date(&row.sim_expiry), date(&row.warranty_end), date(&row.production_date));
    let mut alerts = Vec::new();
    let in_service = !retired(row.state.as_deref());
    if let (true, Some(expiry), Some(today), Some(until)) =
        (in_service, sim_expiry, on(&window.today), on(&window.sim_until))
    {
        if expiry < today {
            alerts.push(BriefAlert::SimExpired.into());
        } else if expiry <= until {
            alerts.push(BriefAlert::SimExpiring.into());
        }
    }
    if let (true, Some(end), Some(today), Some(until)) =
        (in_service, warranty_end, on(&window.today), on(&window.warranty_until))
        && end >= today
        && end <= until
    {
        alerts.push(BriefAlert::WarrantyEnding.into());
    }
    if in_service && repairs_all >= 2 {
        alerts.push(BriefAlert::RepeatedFaults.into());
    }
    if let (true, Some(made), Some(until)) = (in_service, production_date, on(&window.old_until))
        && made <= until
    {
        alerts.push(BriefAlert::OldTerminal.into());
    }
    TerminalBrief {
        serial: row.serial,
        model: row.model,
        state: row.state,
        sim_carrier: row.sim_carrier,
        sim_expiry,
        warranty_end,
        production_date,
        visits,
        repairs_last_year: u64::try_from(repairs).unwrap_or(u64::MAX),
        alerts,
    }
}
