//! The agent's half of the one place [samod] is named, and the ground both
//! halves stand on.
//!
//! samod is the Rust automerge-repo: it runs automerge's sync protocol over
//! many documents on one connection and is wire compatible with the
//! JavaScript automerge-repo. Its API changes most months, so it is pinned
//! (`=0.16.0`) and everything the server and the agent need from it is
//! wrapped in this crate and in `posfield-sync-link-server`, in Posfield's own
//! terms: visit ids (UUID strings), an access decision per visit and peer,
//! and a websocket transport with message, size and time limits.
//!
//! This crate is what the phone links: it knows nothing of axum or of the
//! server's storage (a tidy test keeps it so). The server's half builds on
//! the pieces here that both sides need, so that each exists once: the
//! visit id mapping, [`LinkError`], [`hex_heads`], the key under which samod
//! finds a chunk ([`chunks`]) and the runtime that ends a stopped
//! repository's tasks ([`runtime`]).
//!
//! - [`session::Session`]: one sync session of an agent, holding only the
//!   documents that differ from the server's, over one websocket.
//! - [`tls`]: the one rustls configuration of the phone's connections
//!   (platform roots, a pinned key, or given roots).
//! - [`reference::ReferenceClient`]: a client of a plain automerge-repo sync
//!   server, for the sync load benchmark's side-by-side comparison.

pub mod chunks;
pub mod reference;
pub mod runtime;
pub mod session;
pub mod tls;

use std::time::Duration;

use samod::DocumentId;

/// Why a sync step failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The id is not a visit id (a UUID).
    #[error("{0:?} is not a visit id")]
    BadId(String),
    /// The server refused the connection (HTTP status on upgrade).
    #[error("the server refused the sync connection (HTTP {0})")]
    Refused(u16),
    /// The server's certificate was refused: not the pinned key, or not
    /// trusted by the roots.
    #[error("the server's certificate was refused: {0:?}")]
    Certificate(tls::CertificateProblem),
    /// Could not reach the server.
    #[error("could not reach the sync server: {0}")]
    Unreachable(String),
    /// The connection was lost mid-sync.
    #[error("the sync connection was lost: {0}")]
    Lost(String),
    /// A step did not finish within its deadline.
    #[error("{what} did not finish within {limit:?}")]
    Deadline {
        /// What was waited for.
        what: String,
        /// The deadline.
        limit: Duration,
    },
    /// Neither side has the document.
    #[error("visit {0} is not on the server")]
    NotFound(String),
    /// The document bytes could not be read.
    #[error("visit {id}: the document cannot be read: {reason}")]
    Document {
        /// Visit id.
        id: String,
        /// What automerge said.
        reason: String,
    },
    /// The repository has stopped.
    #[error("the sync repository has stopped")]
    Stopped,
    /// The server's store could not make a write (or a read): nothing
    /// after it is acknowledged.
    #[error("document storage failed: {0}")]
    Storage(String),
}

impl From<samod::Stopped> for LinkError {
    fn from(_: samod::Stopped) -> Self {
        LinkError::Stopped
    }
}

/// The samod document id of a visit (visit ids are UUIDs, as samod's are).
pub fn doc_id(visit_id: &str) -> Result<DocumentId, LinkError> {
    let uuid = uuid::Uuid::parse_str(visit_id).map_err(|_| LinkError::BadId(visit_id.to_owned()))?;
    DocumentId::try_from(uuid.as_bytes().to_vec()).map_err(|_| LinkError::BadId(visit_id.to_owned()))
}

/// The visit id of a samod document id (lowercase hyphenated UUID).
pub fn visit_id(doc: &DocumentId) -> String {
    uuid::Uuid::from_slice(doc.as_bytes()).map(|u| u.hyphenated().to_string()).unwrap_or_default()
}

/// Hex heads of an automerge document, sorted.
pub fn hex_heads(doc: &automerge::Automerge) -> Vec<String> {
    let mut heads: Vec<String> = doc.get_heads().iter().map(|h| h.to_string()).collect();
    heads.sort();
    heads
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visit_ids_round_trip_through_document_ids() {
        let id = "01a207b7-e9e1-7141-abf3-6a5ab3c38fc6";
        assert_eq!(visit_id(&doc_id(id).unwrap()), id);
        assert_eq!(visit_id(&doc_id(&id.to_uppercase()).unwrap()), id);
    }

    #[test]
    fn a_non_uuid_is_not_a_visit_id() {
        for bad in ["", "visit-1", "01a207b7-e9e1-7141-abf3", "../../etc/passwd"] {
            assert!(matches!(doc_id(bad), Err(LinkError::BadId(_))), "{bad:?}");
        }
    }
}
