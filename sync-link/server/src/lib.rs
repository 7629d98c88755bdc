//! The server's half of the one place [samod] is named.
//!
//! The server keeps every visit document in its own durable store and
//! serves authenticated agents over websockets, each connection in a samod
//! repository of its own that shares, read-only, only what the access
//! [`Policy`] allows: phones write through the server's checked push. This half alone knows axum (the websocket it is handed) and the
//! server's key/value store; the agent's half, `posfield-sync-link-client`,
//! knows neither, so the phone links none of it. What both sides need (visit
//! ids, [`LinkError`], chunk keys, the runtime that ends a stopped
//! repository's tasks) lives once, in the agent's half, and this one builds
//! on it.
//!
//! - [`ServerRepo`]: the server's documents over a [`storage::KvStore`],
//!   accepting authenticated websocket connections.
//! - [`storage`]: samod's storage over the blocking [`storage::KvStore`], and
//!   the key of a chunk the server writes itself.

mod server;
pub mod storage;

pub use posfield_sync_link_client::{LinkError, doc_id, visit_id};
pub use server::{Access, Limits, PeerChanges, Policy, ServerRepo};
