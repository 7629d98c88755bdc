//! The visit document: one automerge document per visit.
//!
//! - [`schema`]: the typed shape of a visit (autosurgeon mapping).
//! - [`document`]: [`VisitDoc`], the only code that touches automerge.
//! - [`ops`]: every action on a visit, as methods of [`VisitDoc`].
//! - [`completion`]: what must be recorded before completing.
//! - [`acceptance`]: the signed summary and its check.
//! - [`outcome`]: what a visit does to the terminals.
//! - [`authority`]: the back-office fields and how the server restores them.
//! - [`satisfy`]: the operations that meet a checklist requirement.

pub mod acceptance;
pub mod authority;
pub mod completion;
pub mod document;
pub mod marks;
pub mod ops;
pub mod outcome;
pub mod pushed;
pub mod satisfy;
pub mod schema;

pub use acceptance::{AcceptanceSummary, SignatureCheck};
pub use completion::{Missing, StepStatus, missing, step_statuses};
pub use document::{
    Authorship, ConcurrentEdit, ConcurrentValue, Conflict, DocError, FieldChange, VisitDoc, losses, raw_json,
};
pub use ops::{
    BlobInfo, Ctx, MerchantInput, SignatureInput, SimInput, TerminalDetails, VisitError, WaiverInput,
};
pub use schema::{
    Annotation, Arrival, BriefAlert, CHECKLIST_EDITION, EDITABLE_FROM, GeoPoint, MarkPoint, MarkShape,
    PastVisit, SCHEMA_VERSION, Schedule, SiteBrief, StepState, TerminalBrief, Trip, Visit,
    dispatched_serial_note,
};
