//! The visit status state machine.
//!
//! ```text
//!  draft ──start──► in_progress ──complete──► completed ──approve──► approved
//!    │                 │   ▲                      │
//!    │cancel     cancel│   └──────start──── returned ◄──return──┘
//!    ▼                 ▼                      │cancel
//! cancelled ◄──────────┴──────────────────────┘
//! ```
//!
//! A returned visit is worked on again by starting it. Approved and cancelled
//! are final.

use serde::{Deserialize, Serialize};

use crate::actor::Role;
use crate::vocab::vocabulary;

vocabulary! {
    /// Where a visit stands.
    pub enum VisitStatus {
        /// 待处理: created or assigned, not started.
        Draft = ("draft", "待处理", "Draft"),
        /// 进行中: the agent is working on it.
        InProgress = ("in_progress", "进行中", "In progress"),
        /// 已完成: completed by the agent, waiting for review.
        Completed = ("completed", "待审核", "Completed, waiting for review"),
        /// 已通过: approved by the back office. Final.
        Approved = ("approved", "已通过", "Approved"),
        /// 已退回: returned by the back office with a note.
        Returned = ("returned", "已退回", "Returned"),
        /// 已取消. Final.
        Cancelled = ("cancelled", "已取消", "Cancelled"),
    }
}

/// What can happen to a visit's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitEvent {
    /// The agent starts (or restarts, after a return) work.
    Start,
    /// The agent completes the visit.
    Complete,
    /// The back office approves it.
    Approve,
    /// The back office returns it with a note.
    Return,
    /// The back office cancels it.
    Cancel,
}

impl VisitEvent {
    /// Every event.
    pub const ALL: [VisitEvent; 5] = [
        VisitEvent::Start,
        VisitEvent::Complete,
        VisitEvent::Approve,
        VisitEvent::Return,
        VisitEvent::Cancel,
    ];

    /// Whether a person in this role may cause the event.
    pub fn allowed_for(self, role: Role) -> bool {
        match self {
            VisitEvent::Start | VisitEvent::Complete => role == Role::Agent,
            VisitEvent::Approve | VisitEvent::Return | VisitEvent::Cancel => role.is_back_office(),
        }
    }
}

/// A status change the state machine refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {event:?} a visit that is {from}")]
pub struct TransitionError {
    /// The status the visit was in.
    pub from: VisitStatus,
    /// The refused event.
    pub event: VisitEvent,
}

impl VisitStatus {
    /// The status after `event`, or why it cannot happen.
    pub fn apply(self, event: VisitEvent) -> Result<VisitStatus, TransitionError> {
        use VisitEvent as E;
        use VisitStatus as S;
        match (self, event) {
            (S::Draft | S::Returned, E::Start) => Ok(S::InProgress),
            (S::InProgress, E::Complete) => Ok(S::Completed),
            (S::Completed, E::Approve) => Ok(S::Approved),
            (S::Completed, E::Return) => Ok(S::Returned),
            (S::Draft | S::InProgress | S::Returned, E::Cancel) => Ok(S::Cancelled),
            (from, event) => Err(TransitionError { from, event }),
        }
    }

    /// Whether the agent may still change the visit's content.
    pub fn is_editable_by_agent(self) -> bool {
        matches!(self, VisitStatus::Draft | VisitStatus::InProgress | VisitStatus::Returned)
    }

    /// Whether nothing can happen to the visit any more.
    pub fn is_final(self) -> bool {
        matches!(self, VisitStatus::Approved | VisitStatus::Cancelled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::Term;
    use VisitEvent as E;
    use VisitStatus as S;

    /// Every (status, event) pair with its expected outcome: the whole table.
    const TABLE: &[(S, E, Option<S>)] = &[
        (S::Draft, E::Start, Some(S::InProgress)),
        (S::Draft, E::Complete, None),
        (S::Draft, E::Approve, None),
        (S::Draft, E::Return, None),
        (S::Draft, E::Cancel, Some(S::Cancelled)),
        (S::InProgress, E::Start, None),
        (S::InProgress, E::Complete, Some(S::Completed)),
        (S::InProgress, E::Approve, None),
        (S::InProgress, E::Return, None),
        (S::InProgress, E::Cancel, Some(S::Cancelled)),
        (S::Completed, E::Start, None),
        (S::Completed, E::Complete, None),
        (S::Completed, E::Approve, Some(S::Approved)),
        (S::Completed, E::Return, Some(S::Returned)),
        (S::Completed, E::Cancel, None),
        (S::Approved, E::Start, None),
        (S::Approved, E::Complete, None),
        (S::Approved, E::Approve, None),
        (S::Approved, E::Return, None),
        (S::Approved, E::Cancel, None),
        (S::Returned, E::Start, Some(S::InProgress)),
        (S::Returned, E::Complete, None),
        (S::Returned, E::Approve, None),
        (S::Returned, E::Return, None),
        (S::Returned, E::Cancel, Some(S::Cancelled)),
        (S::Cancelled, E::Start, None),
        (S::Cancelled, E::Complete, None),
        (S::Cancelled, E::Approve, None),
        (S::Cancelled, E::Return, None),
        (S::Cancelled, E::Cancel, None),
    ];

    #[test]
    fn table_covers_every_status_and_event() {
        assert_eq!(TABLE.len(), S::ALL.len() * E::ALL.len());
        for status in S::ALL {
            for event in E::ALL {
                assert!(TABLE.iter().any(|(s, e, _)| s == status && *e == event), "{status} {event:?}");
            }
        }
    }

    #[test]
    fn every_transition_is_allowed_or_refused_as_the_table_says() {
        for (from, event, expected) in TABLE {
            let got = from.apply(*event);
            match expected {
                Some(to) => assert_eq!(got, Ok(*to), "{from} --{event:?}-->"),
                None => assert_eq!(got, Err(TransitionError { from: *from, event: *event })),
            }
        }
    }

    #[test]
    fn a_returned_visit_can_be_worked_on_and_completed_again() {
        let status = S::Completed.apply(E::Return).and_then(|s| s.apply(E::Start));
        assert_eq!(status.and_then(|s| s.apply(E::Complete)), Ok(S::Completed));
    }

    #[test]
    fn only_the_back_office_reviews_and_only_agents_work() {
        assert!(E::Approve.allowed_for(Role::Reviewer) && E::Return.allowed_for(Role::Admin));
        assert!(!E::Approve.allowed_for(Role::Agent) && !E::Cancel.allowed_for(Role::Agent));
        assert!(E::Complete.allowed_for(Role::Agent) && !E::Complete.allowed_for(Role::Reviewer));
    }

    #[test]
    fn refusals_say_what_was_refused() {
        let error = S::Approved.apply(E::Return).unwrap_err();
        assert_eq!(error.to_string(), "cannot Return a visit that is approved");
    }
}
