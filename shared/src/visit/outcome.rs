//! What an approved visit does to the terminals it touched.

use serde::Serialize;

use super::schema::Visit;
use crate::kind::VisitKind;
use crate::lifecycle::TerminalEvent;
use crate::vocab::{RepairPlan, WarrantyStatus};

/// One lifecycle event for one terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TerminalEffect {
    /// The terminal's serial.
    pub serial: String,
    /// What happens to it.
    pub event: TerminalEvent,
}

/// The lifecycle events a visit causes, in the order they apply.
pub fn terminal_effects(visit: &Visit) -> Vec<TerminalEffect> {
    use TerminalEvent as E;
    let mut effects = Vec::new();
    let mut push = |serial: Option<&String>, events: &[TerminalEvent]| {
        if let Some(serial) = serial {
            effects.extend(events.iter().map(|e| TerminalEffect { serial: serial.clone(), event: *e }));
        }
    };
    let old = visit.terminal.as_ref().map(|t| &t.serial);
    let new = visit.replacement.as_ref().map(|t| &t.serial);
    match visit.kind {
        VisitKind::Installation => push(old, &[E::Install]),
        VisitKind::Replacement => {
            push(old, &[E::Recycle]);
            push(new, &[E::Install]);
        }
        VisitKind::Repair => {
            // A decision this version does not know moves no terminal here.
            let warranty = visit.repair.warranty.as_ref().and_then(|d| d.value.known());
            let plan = visit.repair.plan.as_ref().and_then(|d| d.value.known());
            match (warranty, plan) {
                (Some(WarrantyStatus::Lost), _) => push(old, &[E::ReportLost]),
                (_, Some(RepairPlan::FixedOnSite)) => push(old, &[E::ReportFault, E::Repaired]),
                (_, Some(RepairPlan::SentForRepair)) => push(old, &[E::ReportFault, E::SendForRepair]),
                (_, Some(RepairPlan::Replaced)) => {
                    push(old, &[E::ReportFault, E::Recycle]);
                    push(new, &[E::Install]);
                }
                (_, None) => push(old, &[E::ReportFault]),
            }
        }
        VisitKind::Reactivation => push(old, &[E::Reactivate]),
        VisitKind::Deregistration => push(old, &[E::Deregister, E::Recycle]),
        VisitKind::SimRenewal | VisitKind::Inspection => {}
    }
    effects
}
