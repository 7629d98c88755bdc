//! At the terminal: what the job's brief (`assignment.brief`, made by the
//! server when the desk gave the job) says of the identified terminal, and
//! the work the agent can do on the same trip: a SIM plan about to run
//! out is offered as a renewal, created as a job of its own linked to
//! this one by a note on each.

use posfield_shared::visit::{MerchantInput, TerminalBrief, Visit};
use posfield_shared::{CalendarDate, VisitId, VisitKind};

use crate::agent::{Agent, AgentError};

/// A SIM plan expiring within this many days (or expired) is offered as a
/// renewal on the same trip: the alerts page's window.
pub const RENEWAL_WITHIN_DAYS: i64 = 30;

/// How the visit's note names the renewal created on the same trip.
const RENEWAL_NOTE: &str = "同行流量卡续费工单 / same-trip SIM renewal: ";

/// How the renewal's note names the job it was created at.
const FROM_NOTE: &str = "同行工单 / created on the trip of: ";

/// What the brief knows of the terminal identified in `visit`, if anything.
pub fn identified(visit: &Visit) -> Option<&TerminalBrief> {
    let serial = &visit.terminal.as_ref()?.serial;
    visit.assignment.brief.as_ref()?.terminal(serial)
}

/// The SIM renewal already created on this visit's trip, if any.
pub fn linked_renewal(visit: &Visit) -> Option<VisitId> {
    visit.notes.iter().rev().find_map(|n| n.text.strip_prefix(RENEWAL_NOTE)?.trim().parse().ok())
}

/// Days until the identified terminal's SIM plan runs out, when the agent
/// should be offered to renew it now: the visit is not itself a renewal,
/// none was created on this trip, and the plan ends within
/// [`RENEWAL_WITHIN_DAYS`] of `today` (negative: already ended).
pub fn renewal_offer(visit: &Visit, today: CalendarDate) -> Option<i64> {
    if visit.kind == VisitKind::SimRenewal || linked_renewal(visit).is_some() {
        return None;
    }
    let terminal = identified(visit)?;
    // A terminal out of the fleet (deregistered, recycled, lost) renews nothing.
    if matches!(terminal.state.as_deref(), Some("deregistered" | "recycled" | "lost")) {
        return None;
    }
    let days = today.days_until(terminal.sim_expiry?);
    (days <= RENEWAL_WITHIN_DAYS).then_some(days)
}

impl Agent {
    /// Creates the SIM renewal offered on the trip of `visit_id`, for the
    /// same merchant, and links the two by a note on each. Asked again, it
    /// gives the renewal already created.
    pub fn renew_on_same_trip(&mut self, visit_id: &VisitId) -> Result<VisitId, AgentError> {
        let visit = self.visit(visit_id)?;
        if let Some(existing) = linked_renewal(&visit) {
            return Ok(existing);
        }
        let m = &visit.merchant;
        let merchant = MerchantInput {
            name: m.name.clone(),
            merchant_number: m.merchant_number.clone(),
            terminal_number: m.terminal_number.clone(),
            phone: m.phone.clone(),
            address: m.address.clone(),
            location: m.location,
        };
        let renewal = self.create_visit(VisitKind::SimRenewal, &merchant)?.id;
        self.add_note(&renewal, &format!("{FROM_NOTE}{visit_id}"))?;
        self.add_note(visit_id, &format!("{RENEWAL_NOTE}{renewal}"))?;
        Ok(renewal)
    }
}

#[cfg(test)]
mod tests {
    use posfield_shared::visit::{BriefAlert, Ctx, SiteBrief, TerminalBrief, VisitDoc};
    use posfield_shared::vocab::IdentificationMethod;
    use posfield_shared::{Actor, Timestamp};

    use super::*;

    const SERIAL: &str = "N9100001234567";

    fn ctx(actor: Actor, n: i64) -> Ctx {
        Ctx::new(actor, Timestamp(1_795_000_000_000 + n * 60_000), format!("op-{n}"))
    }

    /// A job the desk gave with a brief whose installed terminal's SIM ends on `expiry`.
    fn job(kind: VisitKind, expiry: &str) -> VisitDoc {
        job_in(kind, expiry, "installed")
    }

    /// The same, the terminal in lifecycle state `state`.
    fn job_in(kind: VisitKind, expiry: &str, state: &str) -> VisitDoc {
        let admin = Actor::admin("boss", "back-office");
        let merchant = MerchantInput { name: "老王便利店".into(), ..MerchantInput::default() };
        let id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
        let mut doc =
            VisitDoc::create_visit(&ctx(admin.clone(), 1), b"server", id, kind, &merchant, "li").unwrap();
        let terminal = TerminalBrief {
            serial: SERIAL.into(),
            model: Some("N910".into()),
            state: Some(state.into()),
            sim_carrier: None,
            sim_expiry: Some(CalendarDate::parse(expiry).unwrap()),
            warranty_end: None,
            production_date: None,
            visits: Vec::new(),
            repairs_last_year: 0,
            alerts: vec![BriefAlert::SimExpiring.into()],
        };
        let brief = SiteBrief { made_at: Timestamp(0), terminals: vec![terminal] };
        doc.brief(&ctx(admin, 2), Some(brief)).unwrap();
        doc
    }

    fn identify(doc: &mut VisitDoc, serial: &str) {
        let li = Actor::agent("li", "phone-li");
        doc.identify_terminal(&ctx(li, 3), serial, IdentificationMethod::Manual, None, false).unwrap();
    }

    #[test]
    fn a_sim_running_out_is_offered_once_the_terminal_is_identified() {
        let today = CalendarDate::parse("2026-12-08").unwrap();
        let mut doc = job(VisitKind::Repair, "2026-12-20");
        assert_eq!(renewal_offer(&doc.visit().unwrap(), today), None, "not before the terminal is known");
        identify(&mut doc, SERIAL);
        let visit = doc.visit().unwrap();
        assert_eq!(identified(&visit).map(|t| t.serial.as_str()), Some(SERIAL));
        assert_eq!(renewal_offer(&visit, today), Some(12));
        // Already expired: offered too, with the days past.
        let mut doc = job(VisitKind::Inspection, "2026-12-01");
        identify(&mut doc, SERIAL);
        assert_eq!(renewal_offer(&doc.visit().unwrap(), today), Some(-7));
    }

    #[test]
    fn no_offer_far_from_expiry_for_another_terminal_or_on_a_renewal() {
        let today = CalendarDate::parse("2026-12-08").unwrap();
        let mut far = job(VisitKind::Repair, "2027-06-01");
        identify(&mut far, SERIAL);
        assert_eq!(renewal_offer(&far.visit().unwrap(), today), None);
        let mut other = job(VisitKind::Repair, "2026-12-20");
        identify(&mut other, "N9100007654321");
        assert_eq!(identified(&other.visit().unwrap()), None);
        assert_eq!(renewal_offer(&other.visit().unwrap(), today), None);
        let mut renewal = job(VisitKind::SimRenewal, "2026-12-20");
        identify(&mut renewal, SERIAL);
        assert_eq!(renewal_offer(&renewal.visit().unwrap(), today), None);
        let mut retired = job_in(VisitKind::Repair, "2026-12-20", "deregistered");
        identify(&mut retired, SERIAL);
        assert_eq!(
            renewal_offer(&retired.visit().unwrap(), today),
            None,
            "a deregistered terminal renews nothing"
        );
    }
}
