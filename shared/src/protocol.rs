//! The sync API's request and response bodies, shared by the server and the
//! agent so the two cannot drift apart.
//!
//! A sync starts with the manifest: the agent sends one digest over the
//! (visit id, heads) of every visit it holds; when the server's digest over
//! the visits that agent may see is the same, nothing has changed and the
//! sync is over after that one round trip. Otherwise the server answers with
//! its list, and only the visits whose heads differ are synced.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `POST /api/v1/enroll`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollRequest {
    /// The one-time enrolment code.
    pub code: String,
    /// The id the phone stamps on its edits.
    pub device_id: String,
    /// A name for people (phone model).
    pub device_name: String,
    /// The phone's Ed25519 public key, hex.
    pub public_key: String,
}

/// The answer to an enrolment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollResponse {
    /// The agent's name.
    pub agent: String,
    /// The server's id for the device.
    pub device_id: String,
    /// The device credential, sent as a bearer token from now on.
    pub token: String,
    /// The peer id to sync as.
    pub peer: String,
    /// When the credential expires (Unix seconds).
    pub expires_at: i64,
}

/// `POST /api/v1/sync/manifest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRequest {
    /// [`digest`] over the agent's visits.
    pub digest: String,
    /// The phone still has blobs to upload in this sync, which the server
    /// would list as missing: it asks for the list once they are up.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub uploads_pending: bool,
}

/// One visit in the server's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Visit id.
    pub id: String,
    /// Sorted hex heads, comma separated.
    pub heads: String,
}

/// The answer to a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestResponse {
    /// The digests are the same: nothing to sync.
    pub in_sync: bool,
    /// The server's visits for this agent, when not in sync.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub visits: Vec<ManifestEntry>,
    /// Blobs this agent's visits refer to that the server does not hold
    /// (SHA-256 hex), for example after the server was restored from an
    /// older backup: the phone sends them again whatever it remembers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_blobs: Vec<String>,
}

/// Joins sorted hex heads the way manifests carry them.
pub fn join_heads(heads: &[String]) -> String {
    let mut heads = heads.to_vec();
    heads.sort();
    heads.join(",")
}

/// The digest of a set of (visit id, joined heads): SHA-256 over the lines
/// `id heads\n` sorted by id, hex.
pub fn digest<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut entries: Vec<(&str, &str)> = entries.into_iter().collect();
    entries.sort_unstable();
    let mut hasher = Sha256::new();
    for (id, heads) in entries {
        hasher.update(id.as_bytes());
        hasher.update(b" ");
        hasher.update(heads.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_ignores_order_and_sees_every_head() {
        let a = digest([("v1", "aa"), ("v2", "bb,cc")]);
        assert_eq!(a, digest([("v2", "bb,cc"), ("v1", "aa")]));
        assert_ne!(a, digest([("v1", "aa"), ("v2", "bb")]));
        assert_ne!(a, digest([("v1", "aa")]));
        assert_eq!(join_heads(&["b".into(), "a".into()]), "a,b");
    }
}
