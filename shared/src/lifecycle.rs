//! The terminal lifecycle state machine.
//!
//! ```text
//! in_stock ─install─► installed ─suspend─► suspended ─reactivate─► installed
//!                        │  ▲                  │
//!            report_fault│  │repaired          │report_fault
//!                        ▼  │                  ▼
//!                       faulty ─send_for_repair─► in_repair ─return_to_stock─► in_stock
//!
//! installed | suspended | faulty ─deregister─► deregistered ─recycle─► recycled
//! installed | suspended | faulty | in_repair ─recycle─► recycled (taken back on replacement)
//! installed | suspended | faulty ─report_lost─► lost
//! ```
//!
//! Visits move terminals along this path; which events a visit causes is
//! decided in [`crate::visit::outcome`].

use serde::{Deserialize, Serialize};

use crate::vocab::vocabulary;

vocabulary! {
    /// Where a terminal stands.
    pub enum TerminalState {
        /// 库存.
        InStock = ("in_stock", "库存", "In stock"),
        /// 已安装: in service at a merchant.
        Installed = ("installed", "已安装", "Installed"),
        /// 停用.
        Suspended = ("suspended", "停用", "Suspended"),
        /// 故障.
        Faulty = ("faulty", "故障", "Faulty"),
        /// 维修中.
        InRepair = ("in_repair", "维修中", "In repair"),
        /// 已注销.
        Deregistered = ("deregistered", "已注销", "Deregistered"),
        /// 已回收. Final.
        Recycled = ("recycled", "已回收", "Recycled"),
        /// 丢失. Final.
        Lost = ("lost", "丢失", "Lost"),
    }
}

/// What can happen to a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminalEvent {
    /// Installed at a merchant.
    Install,
    /// Suspended (停用).
    Suspend,
    /// Back in service after a suspension.
    Reactivate,
    /// A fault was found.
    ReportFault,
    /// Sent away for repair (寄修).
    SendForRepair,
    /// Repaired, on site or back from the workshop, and in service.
    Repaired,
    /// Back from repair into stock rather than to a merchant.
    ReturnToStock,
    /// Deregistered (注销).
    Deregister,
    /// Taken back and recycled (回收).
    Recycle,
    /// Reported lost (丢失).
    ReportLost,
}

impl TerminalEvent {
    /// Every event.
    pub const ALL: [TerminalEvent; 10] = [
        TerminalEvent::Install,
        TerminalEvent::Suspend,
        TerminalEvent::Reactivate,
        TerminalEvent::ReportFault,
        TerminalEvent::SendForRepair,
        TerminalEvent::Repaired,
        TerminalEvent::ReturnToStock,
        TerminalEvent::Deregister,
        TerminalEvent::Recycle,
        TerminalEvent::ReportLost,
    ];
}

/// A lifecycle change the state machine refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a terminal that is {from} cannot {event:?}")]
pub struct LifecycleError {
    /// The terminal's state.
    pub from: TerminalState,
    /// The refused event.
    pub event: TerminalEvent,
}

impl TerminalState {
    /// The state after `event`, or why it cannot happen.
    pub fn apply(self, event: TerminalEvent) -> Result<TerminalState, LifecycleError> {
        use TerminalEvent as E;
        use TerminalState as S;
        match (self, event) {
            (S::InStock, E::Install) => Ok(S::Installed),
            (S::Installed, E::Suspend) => Ok(S::Suspended),
            (S::Suspended, E::Reactivate) => Ok(S::Installed),
            (S::Installed | S::Suspended, E::ReportFault) => Ok(S::Faulty),
            (S::Faulty, E::SendForRepair) => Ok(S::InRepair),
            (S::Faulty | S::InRepair, E::Repaired) => Ok(S::Installed),
            (S::InRepair, E::ReturnToStock) => Ok(S::InStock),
            (S::Installed | S::Suspended | S::Faulty, E::Deregister) => Ok(S::Deregistered),
            (S::Installed | S::Suspended | S::Faulty | S::InRepair | S::Deregistered, E::Recycle) => {
                Ok(S::Recycled)
            }
            (S::Installed | S::Suspended | S::Faulty, E::ReportLost) => Ok(S::Lost),
            (from, event) => Err(LifecycleError { from, event }),
        }
    }

    /// Whether the terminal is in service at a merchant.
    pub fn is_in_service(self) -> bool {
        self == TerminalState::Installed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::Term;
    use TerminalEvent as E;
    use TerminalState as S;

    /// The allowed transitions; every other (state, event) pair is refused.
    const ALLOWED: &[(S, E, S)] = &[
        (S::InStock, E::Install, S::Installed),
        (S::Installed, E::Suspend, S::Suspended),
        (S::Suspended, E::Reactivate, S::Installed),
        (S::Installed, E::ReportFault, S::Faulty),
        (S::Suspended, E::ReportFault, S::Faulty),
        (S::Faulty, E::SendForRepair, S::InRepair),
        (S::Faulty, E::Repaired, S::Installed),
        (S::InRepair, E::Repaired, S::Installed),
        (S::InRepair, E::ReturnToStock, S::InStock),
        (S::Installed, E::Deregister, S::Deregistered),
        (S::Suspended, E::Deregister, S::Deregistered),
        (S::Faulty, E::Deregister, S::Deregistered),
        (S::Installed, E::Recycle, S::Recycled),
        (S::Suspended, E::Recycle, S::Recycled),
        (S::Faulty, E::Recycle, S::Recycled),
        (S::InRepair, E::Recycle, S::Recycled),
        (S::Deregistered, E::Recycle, S::Recycled),
        (S::Installed, E::ReportLost, S::Lost),
        (S::Suspended, E::ReportLost, S::Lost),
        (S::Faulty, E::ReportLost, S::Lost),
    ];

    #[test]
    fn every_allowed_transition_goes_where_the_table_says() {
        for (from, event, to) in ALLOWED {
            assert_eq!(from.apply(*event), Ok(*to), "{from} --{event:?}-->");
        }
    }

    #[test]
    fn every_other_transition_is_refused() {
        let mut refused = 0;
        for from in S::ALL {
            for event in E::ALL {
                if ALLOWED.iter().any(|(f, e, _)| f == from && *e == event) {
                    continue;
                }
                assert_eq!(from.apply(event), Err(LifecycleError { from: *from, event }));
                refused += 1;
            }
        }
        assert_eq!(refused + ALLOWED.len(), S::ALL.len() * E::ALL.len());
    }

    #[test]
    fn recycled_and_lost_are_final() {
        for event in E::ALL {
            assert!(S::Recycled.apply(event).is_err());
            assert!(S::Lost.apply(event).is_err());
        }
    }
}
