//! The sync API's request and response bodies, shared by the server and the
//! agent so the two cannot drift apart.
//!
//! A sync starts with the manifest: the agent sends one digest over the
//! (visit id, heads) of every visit it holds; when the server's digest over
//! the visits that agent may see is the same, nothing has changed and the
//! sync is over after that one round trip. Otherwise the server answers with
//! its list, and only the visits whose heads differ are synced.
//!
//! A visit the server does not have yet, or has only an older state of, is
//! pushed: `POST /api/v1/sync/push` carries, for many visits in one request,
//! the saved document or the changes since the server's heads, and the
//! server answers for each with its heads after merging, once it has
//! checked every change. A visit where the server holds changes the phone
//! lacks is pulled through automerge's sync protocol on the samod
//! websocket, which only reads for phones (docs/decisions.md says why); the
//! phone's own changes to it go up in a push in the sync's next round.
//! Push bodies are CBOR: a saved document is binary, and base64 in JSON
//! would add a third to it.
//!
//! Every request a phone makes carries its versions in three headers
//! ([`APP_VERSION_HEADER`], [`SCHEMA_VERSION_HEADER`],
//! [`PROTOCOL_VERSION_HEADER`]). A phone released before they existed sends
//! none and is taken to run [`UNVERSIONED_APP_VERSION`] with protocol
//! [`UNVERSIONED_PROTOCOL`]. A server that no longer syncs with a phone's
//! version answers `426 Upgrade Required` with an [`AppTooOld`] body before
//! it reads or writes anything, and the phone keeps its work.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The sync protocol this code speaks. Protocol 1 sent no versions and
/// could not renew a credential; protocol 2 sends the version headers on
/// every request and renews credentials (`POST /api/v1/sync/renew`);
/// protocol 3 only pulls on the samod websocket, ending a visit's exchange
/// once it holds the server's changes, and pushes its own
/// ([`PULLING_PROTOCOL`]).
pub const PROTOCOL_VERSION: u32 = 3;

/// The first protocol whose phones only pull on the samod websocket. The
/// server shares visits with them read-only; an older phone waits in its
/// exchange until the server holds its changes, so the server takes them
/// into that connection's memory, stores nothing of them, and the phone
/// pushes them in its next round.
pub const PULLING_PROTOCOL: u32 = 3;

/// The header carrying the app's version (semantic versioning, `0.2.0`).
pub const APP_VERSION_HEADER: &str = "posfield-app-version";

/// The header carrying the visit document schema version the app writes.
pub const SCHEMA_VERSION_HEADER: &str = "posfield-schema-version";

/// The header carrying the sync protocol the app speaks ([`PROTOCOL_VERSION`]).
pub const PROTOCOL_VERSION_HEADER: &str = "posfield-protocol";

/// The app version of a phone that sends no version header: every phone
/// released before the headers existed runs it.
pub const UNVERSIONED_APP_VERSION: &str = "0.1.0";

/// The protocol of a phone that sends no version header.
pub const UNVERSIONED_PROTOCOL: u32 = 1;

/// The error code of a phone below the server's minimum app version.
pub const APP_TOO_OLD: &str = "app_too_old";

/// The body of a `426 Upgrade Required`: this app version is older than
/// the oldest the server syncs with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppTooOld {
    /// Always [`APP_TOO_OLD`].
    pub error: String,
    /// The refusal in words.
    pub message: String,
    /// The oldest app version the server syncs with.
    pub minimum: String,
    /// The version the phone said it runs (or is taken to run).
    pub app_version: String,
}

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
    /// The credential this phone held before, when it enrols again (expired,
    /// revoked or live): the new device takes over that device's automerge
    /// actors, so edits made under them still sync, and the old credential
    /// is revoked. Absent from older phones and from a first enrolment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_token: Option<String>,
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
    /// Eight bytes (16 lowercase hex digits) every automerge actor of the
    /// device starts with: the phone writes under them and eight random
    /// bytes of each process's own. Absent from servers that give none;
    /// the phone then writes under 16 random bytes, bound to it on first use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_prefix: Option<String>,
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
    /// Seconds the credential this request carried has left, by the
    /// server's clock: the phone renews it when few are left. Absent from
    /// servers older than protocol 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_expires_in: Option<i64>,
    /// Days after a visit's approval when its ID card and bank card photos
    /// leave the phone (the server keeps them). Absent from older servers:
    /// the phone then keeps them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_photo_days: Option<u32>,
    /// An administrator asked for this phone to be wiped: once it has sent
    /// its work, it destroys its keys and says so (`POST
    /// /api/v1/sync/wiped`). Absent from older servers and when not asked.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wipe: bool,
    /// An administrator asked for this phone's device key to be replaced:
    /// it draws a new one and sends it with a proof by the current one
    /// (`POST /api/v1/sync/device-key`). Absent from older servers and when
    /// not asked.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rotate_device_key: bool,
}

/// `POST /api/v1/sync/device-key`: the phone's next device key, vouched
/// for by its current one ([`crate::device_key`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceKeyRotation {
    /// The new Ed25519 public key, 64 hex digits.
    pub public_key: String,
    /// The current key's signature over
    /// [`crate::device_key::rotation_message`], 128 hex digits.
    pub proof: String,
}

/// The answer to `POST /api/v1/sync/renew`: a new credential. The one the
/// request carried stays valid until a renewal is first used (or until
/// its own expiry), so a phone that never stored this answer loses nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewResponse {
    /// The new device credential.
    pub token: String,
    /// When it expires (Unix seconds); never before the old one did.
    pub expires_at: i64,
}

/// Media type of push requests and answers.
pub const PUSH_MEDIA_TYPE: &str = "application/cbor";

/// Visits one push request may carry.
pub const PUSH_MAX_VISITS: usize = 200;

/// `POST /api/v1/sync/push`: visits the phone holds changes of that the
/// server lacks, and nothing the server has that the phone lacks.
#[derive(Debug, Clone, PartialEq, Eq, minicbor::Encode, minicbor::Decode)]
pub struct PushRequest {
    /// The visits, each at most once.
    #[n(0)]
    pub visits: Vec<PushedVisit>,
}

/// One visit in a push.
#[derive(Debug, Clone, PartialEq, Eq, minicbor::Encode, minicbor::Decode)]
pub struct PushedVisit {
    /// Visit id.
    #[n(0)]
    pub id: String,
    /// The server's heads (sorted hex) the changes build on; empty when
    /// `bytes` is the whole document of a visit new to the server.
    #[n(1)]
    pub base: Vec<String>,
    /// The saved document, or the changes since `base` (automerge bytes).
    #[n(2)]
    pub bytes: minicbor::bytes::ByteVec,
}

/// The answer to a push: one outcome per visit, in the request's order.
#[derive(Debug, Clone, PartialEq, Eq, minicbor::Encode, minicbor::Decode)]
pub struct PushResponse {
    /// Outcomes.
    #[n(0)]
    pub visits: Vec<PushOutcome>,
}

/// What became of one pushed visit.
#[derive(Debug, Clone, PartialEq, Eq, minicbor::Encode, minicbor::Decode)]
pub struct PushOutcome {
    /// Visit id.
    #[n(0)]
    pub id: String,
    /// The server's heads after merging (sorted hex); empty when refused.
    #[n(1)]
    pub heads: Vec<String>,
    /// Why it was refused (a stable code), when it was.
    #[n(2)]
    pub refused: Option<String>,
    /// The refusal in words; for a visit stored with fields put back, what
    /// was put back, in the agent's words.
    #[n(3)]
    pub message: Option<String>,
    /// The fields of a stored visit the server put back because the
    /// visit's status no longer let the agent change them (codes of
    /// `visit::authority::Field`); empty when everything was taken. Phones
    /// of protocol 2 and before skip it.
    #[n(4)]
    #[cbor(default)]
    pub reverted: Vec<String>,
}

impl PushOutcome {
    /// A visit stored, with the server's heads after it.
    pub fn stored(id: &str, heads: Vec<String>) -> PushOutcome {
        PushOutcome { id: id.to_owned(), heads, refused: None, message: None, reverted: Vec::new() }
    }

    /// A visit refused with a stable `code` and the reason.
    pub fn refused(id: &str, code: &str, message: impl Into<String>) -> PushOutcome {
        PushOutcome {
            id: id.to_owned(),
            heads: Vec::new(),
            refused: Some(code.to_owned()),
            message: Some(message.into()),
            reverted: Vec::new(),
        }
    }
}

/// CBOR bytes of a push body.
pub fn encode_cbor<T: minicbor::Encode<()>>(value: &T) -> Vec<u8> {
    // Writing to a Vec cannot fail.
    minicbor::to_vec(value).unwrap_or_default()
}

/// A push body from CBOR bytes, or why it is not one.
pub fn decode_cbor<T: for<'b> minicbor::Decode<'b, ()>>(bytes: &[u8]) -> Result<T, String> {
    minicbor::decode(bytes).map_err(|e| e.to_string())
}

/// Heads one pushed visit's base may name. A document has as many heads as
/// concurrent branches not merged yet: a handful, never this many.
pub const PUSH_MAX_BASE_HEADS: usize = 64;

/// Why a push body was refused before its visits were decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushBodyError {
    /// More visits than one push may carry.
    #[error("a push carries at most {PUSH_MAX_VISITS} visits, this one {0}")]
    TooManyVisits(u64),
    /// A visit's base names more heads than a document has.
    #[error("a pushed visit's base names at most {PUSH_MAX_BASE_HEADS} heads, visit {index} names {count}")]
    TooManyHeads {
        /// The visit's place in the push.
        index: u64,
        /// How many heads it names.
        count: u64,
    },
    /// The bytes are not a push request.
    #[error("the push body is not a push request: {0}")]
    Malformed(String),
}

impl PushBodyError {
    /// A stable code for the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            PushBodyError::TooManyVisits(_) => "too_many_visits",
            PushBodyError::TooManyHeads { .. } => "too_many_heads",
            PushBodyError::Malformed(_) => "bad_cbor",
        }
    }
}

/// A push request from CBOR bytes, its counts checked before anything is
/// decoded into memory: the number of visits and of each visit's base
/// heads are read from the array headers first, so a body of millions of
/// empty entries is refused having allocated nothing.
pub fn decode_push_request(bytes: &[u8]) -> Result<PushRequest, PushBodyError> {
    check_push_counts(bytes)?;
    decode_cbor(bytes).map_err(PushBodyError::Malformed)
}

/// Walks a push body's array headers without decoding its values.
fn check_push_counts(bytes: &[u8]) -> Result<(), PushBodyError> {
    let malformed = |e: minicbor::decode::Error| PushBodyError::Malformed(e.to_string());
    let definite = |length: Option<u64>, what: &str| {
        length.ok_or_else(|| PushBodyError::Malformed(format!("{what} has an indefinite length")))
    };
    let mut d = minicbor::Decoder::new(bytes);
    let fields = definite(d.array().map_err(malformed)?, "the request")?;
    if fields == 0 {
        // The full decode says what is missing.
        return Ok(());
    }
    let visits = definite(d.array().map_err(malformed)?, "the visit list")?;
    if visits > PUSH_MAX_VISITS as u64 {
        return Err(PushBodyError::TooManyVisits(visits));
    }
    for index in 0..visits {
        let fields = definite(d.array().map_err(malformed)?, "a visit")?;
        if fields >= 1 {
            d.skip().map_err(malformed)?;
        }
        if fields >= 2 {
            let count = definite(d.array().map_err(malformed)?, "a visit's base")?;
            if count > PUSH_MAX_BASE_HEADS as u64 {
                return Err(PushBodyError::TooManyHeads { index, count });
            }
            for _ in 0..count {
                d.skip().map_err(malformed)?;
            }
        }
        for _ in 2..fields {
            d.skip().map_err(malformed)?;
        }
    }
    Ok(())
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

    /// The actor prefix is optional both ways: an older server's answer
    /// reads without one, and an answer without one is written as before.
    #[test]
    fn an_enrolment_answer_without_an_actor_prefix_reads_and_writes_as_before() {
        let older = r#"{"agent":"wang","device_id":"d","token":"t","peer":"p","expires_at":1}"#;
        let answer: EnrollResponse = serde_json::from_str(older).unwrap();
        assert_eq!(answer.actor_prefix, None);
        assert_eq!(serde_json::to_string(&answer).unwrap(), older);
        let newer = EnrollResponse { actor_prefix: Some("00112233aabbccdd".into()), ..answer };
        let json = serde_json::to_string(&newer).unwrap();
        assert_eq!(serde_json::from_str::<EnrollResponse>(&json).unwrap(), newer);
    }

    #[test]
    fn push_bodies_round_trip_and_garbage_is_refused() {
        let request = PushRequest {
            visits: vec![PushedVisit {
                id: "01a207b7-e9e1-7141-abf3-6a5ab3c38fc6".into(),
                base: vec!["ab".repeat(32)],
                bytes: vec![0x85, 0x6f, 0x4a, 0x83].into(),
            }],
        };
        let bytes = encode_cbor(&request);
        assert_eq!(decode_cbor::<PushRequest>(&bytes), Ok(request));
        let answer = PushResponse {
            visits: vec![
                PushOutcome::stored("v1", vec!["cd".repeat(32)]),
                PushOutcome::refused("v2", "not_found", "no such visit"),
            ],
        };
        assert_eq!(decode_cbor::<PushResponse>(&encode_cbor(&answer)), Ok(answer));
        for garbage in [&b""[..], b"{}", b"\xff\xff", &bytes[..bytes.len() - 1]] {
            assert!(
                decode_cbor::<PushRequest>(garbage).is_err() && decode_push_request(garbage).is_err(),
                "{garbage:?}"
            );
        }
    }

    /// A push body with `count` entries of `entry`'s encoding behind an
    /// array header saying so, built without decoding.
    fn body_of(count: u32, entry: &PushedVisit) -> Vec<u8> {
        let one = encode_cbor(&PushRequest { visits: vec![entry.clone()] });
        let entry_bytes = &one[2..];
        let mut body = vec![0x81, 0x9a];
        body.extend_from_slice(&count.to_be_bytes());
        for _ in 0..count {
            body.extend_from_slice(entry_bytes);
        }
        body
    }

    #[test]
    fn push_counts_are_refused_from_their_headers() {
        let entry = |heads: usize| PushedVisit {
            id: "v".into(),
            base: vec![String::new(); heads],
            bytes: vec![1].into(),
        };
        let cases: [(u32, usize, Result<usize, PushBodyError>); 6] = [
            (0, 0, Ok(0)),
            (PUSH_MAX_VISITS as u32, 0, Ok(PUSH_MAX_VISITS)),
            (PUSH_MAX_VISITS as u32 + 1, 0, Err(PushBodyError::TooManyVisits(PUSH_MAX_VISITS as u64 + 1))),
            (1, PUSH_MAX_BASE_HEADS, Ok(1)),
            (1, PUSH_MAX_BASE_HEADS + 1, Err(PushBodyError::TooManyHeads { index: 0, count: 65 })),
            // A header claiming more entries than the bytes hold is refused from the header alone.
            (u32::MAX, 0, Err(PushBodyError::TooManyVisits(u64::from(u32::MAX)))),
        ];
        for (count, heads, expected) in cases {
            let mut body = body_of(count.min(PUSH_MAX_VISITS as u32 + 1), &entry(heads));
            body[2..6].copy_from_slice(&count.to_be_bytes());
            let decoded = decode_push_request(&body).map(|r| r.visits.len());
            assert_eq!(decoded, expected, "{count} visits of {heads} heads");
        }
        let indefinite = [0x81, 0x9f, 0xff];
        assert_eq!(decode_push_request(&indefinite).map_err(|e| e.code()), Err("bad_cbor"));
    }
}
