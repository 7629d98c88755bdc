//! The terminal lifecycle state machine.
//!
//! ```text
//! in_stock ─install─► installed ─suspend─► suspended ─issue─► issued ─reactivate─► installed
//!                        │  ▲                  │     (the application approved)
//!            report_fault│  │repaired          │report_fault
//!                        ▼  │                  ▼
//!                       faulty ─send_for_repair─► in_repair ─return_to_stock─► in_stock
//!
//! installed | suspended | faulty ─deregister─► deregistered ─recycle─► recycled
//! installed | suspended | faulty | in_repair ─recycle─► recycled (taken back on replacement)
//! installed | suspended | faulty ─report_lost─► lost
//! ```
//!
//! A suspended terminal is issued (发放) again when the back office approves
//! its reactivation application, and is back in service when the
//! reactivation visit that follows is approved.
//!
//! Visits move terminals along this path; which events a visit causes, and
//! what else an approved visit changes in the register, is decided in
//! [`crate::visit::outcome`]. This file and that one are the only homes of
//! the lifecycle rules: the server applies what they say.

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
        /// 已发放: the reactivation application was approved; the terminal
        /// is back in service once the reactivation visit is approved.
        Issued = ("issued", "已发放", "Issued"),
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

vocabulary! {
    /// What can happen to a terminal.
    pub enum TerminalEvent {
        /// Installed at a merchant (装机).
        Install = ("install", "装机", "Installed"),
        /// Suspended (停用).
        Suspend = ("suspend", "停用", "Suspended"),
        /// Issued again after a suspension: the reactivation application was approved (发放).
        Issue = ("issue", "复机申请通过，发放终端", "Issued (application approved)"),
        /// Back in service after a suspension (复机).
        Reactivate = ("reactivate", "复机", "Reactivated"),
        /// A fault was found.
        ReportFault = ("report_fault", "报故障", "Fault reported"),
        /// Sent away for repair (寄修).
        SendForRepair = ("send_for_repair", "寄修", "Sent for repair"),
        /// Repaired, on site or back from the workshop, and in service.
        Repaired = ("repaired", "修复", "Repaired"),
        /// Back from repair into stock rather than to a merchant.
        ReturnToStock = ("return_to_stock", "修复入库", "Back from repair into stock"),
        /// Deregistered (注销).
        Deregister = ("deregister", "注销", "Deregistered"),
        /// Taken back and recycled (回收).
        Recycle = ("recycle", "回收", "Taken back"),
        /// Reported lost (丢失).
        ReportLost = ("report_lost", "报失", "Reported lost"),
    }
}

/// A lifecycle change the state machine refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a terminal that is {from} cannot {event}")]
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
            (S::Suspended, E::Issue) => Ok(S::Issued),
            (S::Issued, E::Reactivate) => Ok(S::Installed),
            (S::Installed | S::Suspended | S::Issued, E::ReportFault) => Ok(S::Faulty),
            (S::Faulty, E::SendForRepair) => Ok(S::InRepair),
            (S::Faulty | S::InRepair, E::Repaired) => Ok(S::Installed),
            (S::InRepair, E::ReturnToStock) => Ok(S::InStock),
            (S::Installed | S::Suspended | S::Issued | S::Faulty, E::Deregister) => Ok(S::Deregistered),
            (
                S::Installed | S::Suspended | S::Issued | S::Faulty | S::InRepair | S::Deregistered,
                E::Recycle,
            ) => Ok(S::Recycled),
            (S::Installed | S::Suspended | S::Issued | S::Faulty, E::ReportLost) => Ok(S::Lost),
            (from, event) => Err(LifecycleError { from, event }),
        }
    }

    /// Whether the terminal is in service at a merchant.
    pub fn is_in_service(self) -> bool {
        self == TerminalState::Installed
    }

    /// Whether the terminal has left the fleet for good or for now
    /// (deregistered, recycled, lost): it raises no SIM, age, warranty or
    /// inspection alert.
    pub fn has_left_the_fleet(self) -> bool {
        matches!(self, TerminalState::Deregistered | TerminalState::Recycled | TerminalState::Lost)
    }

    /// The codes of the states that have left the fleet, for queries.
    pub fn left_the_fleet_codes() -> Vec<&'static str> {
        use crate::vocab::Term;
        TerminalState::ALL.iter().filter(|s| s.has_left_the_fleet()).map(|s| s.code()).collect()
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
        (S::Suspended, E::Issue, S::Issued),
        (S::Issued, E::Reactivate, S::Installed),
        (S::Installed, E::ReportFault, S::Faulty),
        (S::Suspended, E::ReportFault, S::Faulty),
        (S::Issued, E::ReportFault, S::Faulty),
        (S::Faulty, E::SendForRepair, S::InRepair),
        (S::Faulty, E::Repaired, S::Installed),
        (S::InRepair, E::Repaired, S::Installed),
        (S::InRepair, E::ReturnToStock, S::InStock),
        (S::Installed, E::Deregister, S::Deregistered),
        (S::Suspended, E::Deregister, S::Deregistered),
        (S::Faulty, E::Deregister, S::Deregistered),
        (S::Issued, E::Deregister, S::Deregistered),
        (S::Issued, E::Recycle, S::Recycled),
        (S::Issued, E::ReportLost, S::Lost),
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
            for &event in E::ALL {
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
        for &event in E::ALL {
            assert!(S::Recycled.apply(event).is_err());
            assert!(S::Lost.apply(event).is_err());
        }
    }
}
