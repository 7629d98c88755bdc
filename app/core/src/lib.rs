//! The field agent's offline core: the `Agent` facade over the local store,
//! blob store, terminal identification, document photos, signatures and the
//! sync client.
//!
//! Everything the agent app does lives here without any UI, so the Tauri
//! app, the `posfield-agent` CLI, the tests and the benchmarks all drive the
//! same code.

pub mod agent;
pub mod background;
mod blobs;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz;
pub mod identify;
pub mod photo;
pub mod signature;
mod store;
pub mod sync;

pub use agent::{Agent, AgentError, Clock, SystemClock, VisitSyncState};
pub use blobs::BlobError;
pub use store::{StoreError, VisitFilter, VisitRow};
