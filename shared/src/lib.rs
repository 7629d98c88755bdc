//! Posfield's domain, with no I/O.
//!
//! This crate knows what a field-service visit to a card-payment terminal is:
//! the seven visit kinds and their checklists, the fault taxonomy, the terminal
//! lifecycle, the validation of the identifiers an agent captures, and the
//! automerge document that holds one visit and merges edits made offline.
//!
//! It opens no file, socket or clock and draws no randomness of its own:
//! time, ids and actors come in as arguments, so every rule here is tested
//! deterministically and the same code runs on the phone, the server and in
//! benchmarks.

pub mod actor;
pub mod checklist;
pub mod device_key;
pub mod fault;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
pub mod ids;
pub mod kind;
pub mod lifecycle;
pub mod protocol;
pub mod serial_text;
pub mod status;
pub mod terms;
pub mod time;
pub mod validate;
pub mod visit;
pub mod vocab;

pub use actor::{Actor, Role};
pub use checklist::{KindTemplate, Requirement, StepId, StepTemplate};
pub use fault::{FaultCategory, FaultCode, Remedy};
pub use ids::{BlobHash, IdError, VisitId};
pub use kind::VisitKind;
pub use lifecycle::{TerminalEvent, TerminalState};
pub use status::{VisitEvent, VisitStatus};
pub use time::{CalendarDate, TimeOfDay, Timestamp};
