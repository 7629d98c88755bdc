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
/// `merchant_number` naming `serials`: the merchant's registered terminals
/// and any named terminal the register knows, at most [`BRIEF_TERMINALS`];
/// `None` when the register knows none of them.
pub async fn make(
    store: &dyn Store,
    principal: &Principal,
    visit_id: &str,
    merchant_number: Option<&str>,
    serials: &[String],
    now: Timestamp,
) -> Result<Option<SiteBrief>, StoreError> {
    let mut rows = match merchant_number {
        Some(number) => store.merchant_terminals(number, BRIEF_TERMINALS).await?,
        None => Vec::new(),
    };
    for serial in serials {
        if rows.len() < BRIEF_TERMINALS
            && !rows.iter().any(|r| &r.serial == serial)
            && let Some(row) = store.terminal(serial).await?
        {
            rows.push(row);
        }
    }
    if rows.is_empty() {
        return Ok(None);
    }
    let window = crate::office::queries::alert_window(now);
    let mut terminals = Vec::with_capacity(rows.len());
    for row in rows {
        let visits = store.terminal_visits(principal, &row.serial).await?;
        let mut past: Vec<_> =
            visits.into_iter().filter(|v| v.id != visit_id && v.updated_at >= window.repairs_since).collect();
        past.sort_by_key(|v| std::cmp::Reverse(v.updated_at));
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
        terminals.push(terminal_brief(row, visits, repairs, &window));
    }
    Ok(Some(SiteBrief { made_at: now, terminals }))
}

fn terminal_brief(
    row: TerminalRow,
    visits: Vec<PastVisit>,
    repairs: usize,
    window: &crate::store::AlertWindow,
) -> TerminalBrief {
    let date = |text: &Option<String>| text.as_deref().and_then(|t| CalendarDate::parse(t).ok());
    let on = |text: &str| CalendarDate::parse(text).ok();
    let (sim_expiry, warranty_end, production_date) =
        (date(&row.sim_expiry), date(&row.warranty_end), date(&row.production_date));
    let mut alerts = Vec::new();
    if let (Some(expiry), Some(today), Some(until)) = (sim_expiry, on(&window.today), on(&window.sim_until)) {
        if expiry < today {
            alerts.push(BriefAlert::SimExpired.into());
        } else if expiry <= until {
            alerts.push(BriefAlert::SimExpiring.into());
        }
    }
    if let (Some(end), Some(today), Some(until)) =
        (warranty_end, on(&window.today), on(&window.warranty_until))
        && end >= today
        && end <= until
    {
        alerts.push(BriefAlert::WarrantyEnding.into());
    }
    if repairs >= 2 {
        alerts.push(BriefAlert::RepeatedFaults.into());
    }
    if let (Some(made), Some(until)) = (production_date, on(&window.old_until))
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
