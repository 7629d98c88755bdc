//! The field agent's offline core: the `Agent` facade over the local store,
//! blob store, terminal identification, document photos, signatures and the
//! sync client.
//!
//! Everything the agent app does lives here without any UI, so the Tauri
//! app, the `posfield-agent` CLI, the tests and the benchmarks all drive the
//! same code.
//!
//! The `Agent` facade is the only door to the agent's data: the SQLite store
//! and the blob folder are private to this crate, so no other crate can name
//! them, let alone open them. The facade and the errors it returns are
//! public:
//!
//! ```
//! use posfield_core::{Agent, BlobError, StoreError, VisitFilter};
//! fn visits(agent: &Agent) -> Result<u64, posfield_core::AgentError> {
//!     agent.visit_count()
//! }
//! ```
//!
//! The store and the blob store are not; these do not compile outside it:
//!
//! ```compile_fail
//! use posfield_core::store::Store;
//! ```
//!
//! ```compile_fail
//! use posfield_core::blobs::BlobStore;
//! ```

pub mod agent;
pub mod at_rest;
pub mod background;
mod blobs;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz;
pub mod identify;
pub mod keystore;
pub mod network;
pub mod news;
pub mod photo;
pub mod retention;
pub mod same_trip;
pub mod signature;
pub mod stamp;
mod store;
pub mod sync;
pub mod usage;

pub use agent::{Agent, AgentError, Clock, SystemClock, VisitSyncState};
pub use at_rest::DataKey;
pub use blobs::BlobError;
pub use keystore::{KeyFile, Keystore, KeystoreError};
pub use store::{DayPlan, JobCard, StoreError, VisitFilter, VisitRow};
