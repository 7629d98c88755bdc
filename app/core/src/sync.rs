//! The agent's sync client: enrolment, then syncs that bring every visit,
//! photo and signature to the server and the back office's changes back.
//!
//! One sync:
//! 1. sends the manifest digest: when the server's digest over the visits
//!    this agent may see is the same, the documents are in sync (one round
//!    trip, a few hundred bytes);
//! 2. otherwise sends only the visits whose heads differ: pushed (many in
//!    one request) when only the phone has changes, over one samod websocket
//!    when the server holds changes the phone lacks, merging what comes back
//!    into the store, and asks again (a server that restored a back-office
//!    field has new heads), a bounded number of times;
//! 3. once the documents agree, uploads every blob the waiting visits refer
//!    to that the server has not confirmed (resuming a cut upload where the
//!    server's copy ends, a few at a time), and marks the visits synced only
//!    when every one of them was verified by the server. Documents go first
//!    because they are small: on a weak signal the back office sees the
//!    visits, marked as waiting for photos, long before the photos are through.
//!
//! Every decision is [`plan`]'s, a pure state machine; `execute` carries out
//! its steps over HTTP, the websocket and the store, and [`Agent::sync`] is
//! the loop between them. Every step is idempotent and the store stays the
//! only copy of record, so a sync cut anywhere (signal lost, app killed)
//! simply starts over next time.
//!
//! Every request carries the app's version, the visit schema version it
//! writes and the sync protocol ([`version_headers`]). A server that no
//! longer syncs with this version says so ([`SyncError::AppTooOld`], with
//! the minimum) and the phone keeps every change for the sync after the
//! update. A credential with less than [`plan::RENEW_WITHIN_SECS`] left is
//! renewed during a sync; the new one is stored before it is first used,
//! and the old one works until then, so a renewal cut anywhere loses nothing.

use std::sync::Arc;
use std::time::Duration;

use posfield_shared::protocol::{
    APP_TOO_OLD, APP_VERSION_HEADER, AppTooOld, EnrollRequest, EnrollResponse, PROTOCOL_VERSION,
    PROTOCOL_VERSION_HEADER, SCHEMA_VERSION_HEADER,
};
use posfield_sync_link_client::tls::{CertificateProblem, SpkiPin, Trust, certificate_problem};
use serde::{Deserialize, Serialize};

use crate::agent::{Agent, AgentError};
use crate::network::{Connection, ConnectionSource};
use crate::usage::{DataUsage, Traffic};
use posfield_shared::VisitId;

mod execute;
pub mod link;
pub mod plan;

use plan::{Planner, Step};

const SETTING_SERVER: &str = "sync.server";
/// The server key's pin (`sha256/<base64>`) the phone was enrolled with;
/// empty or absent: the platform's roots.
const SETTING_PIN: &str = "sync.pin";
const SETTING_TOKEN: &str = "sync.token";
/// When the stored credential expires (Unix seconds), as the server said.
const SETTING_EXPIRES_AT: &str = "sync.expires_at";
const SETTING_PEER: &str = "sync.peer";
/// The server's id for this phone (what an administrator revokes).
pub(crate) const SETTING_SERVER_DEVICE: &str = "sync.device";
const SETTING_AGENT: &str = "sync.agent";
const SETTING_LAST_SUCCESS: &str = "sync.last_success";
const SETTING_ATTEMPT_STARTED: &str = "sync.attempt_started";
const SETTING_ATTEMPT_ENDED: &str = "sync.attempt_ended";
const SETTING_FAILURES: &str = "sync.failures";
const SETTING_LAST_ERROR: &str = "sync.last_error";
/// "1" when the agent chose "photos on Wi-Fi only" (off when absent).
const SETTING_PHOTOS_ON_WIFI_ONLY: &str = "sync.photos_wifi_only";
/// How many blobs the last sync that ended held for Wi-Fi.
const SETTING_PHOTOS_WAITING: &str = "sync.photos_waiting";

/// Why a sync did not finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// The phone is not enrolled.
    #[error("this phone is not enrolled with a server yet")]
    NotEnrolled,
    /// The server address is not a usable URL.
    #[error("the server address {0:?} is not an https:// address")]
    BadServer(String),
    /// The server address is plain `http://` to another machine: everything
    /// sent to it could be read and changed on the way.
    #[error(
        "the server address {0:?} must start with https:// (plain http:// only reaches this device itself)"
    )]
    InsecureServer(String),
    /// The enrolment link cannot be read.
    #[error(
        "the enrolment link {0:?} cannot be read: it is posfield://server/CODE, with ?pin=sha256/... for a private server"
    )]
    BadLink(String),
    /// The server's certificate is not the one the phone was enrolled with
    /// (its key does not match the pin): another server, or someone in
    /// between. Nothing was sent.
    #[error(
        "the server's certificate is not the one this phone was enrolled with (its key is {presented}); someone may be impersonating the server: nothing was sent, call the back office"
    )]
    WrongCertificate {
        /// The pin of the key the server presented.
        presented: String,
    },
    /// The server's certificate is not trusted by the phone (expired, for
    /// another name, or from an unknown authority). Nothing was sent.
    #[error("the server's certificate is not trusted ({0}); nothing was sent, call the back office")]
    UntrustedCertificate(String),
    /// The server could not be reached.
    #[error("the server cannot be reached ({0}); everything stays on the phone and will be sent later")]
    Offline(String),
    /// The server refused the request.
    #[error("the server refused: {message} ({code})")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The server's error code.
        code: String,
        /// The server's words.
        message: String,
    },
    /// The server no longer syncs with this app version.
    #[error(
        "this app is too old for the server: update the app to {} to sync; every change stays on the phone",
        minimum.as_deref().map_or_else(|| "the newest version".to_owned(), |m| format!("{m} or later"))
    )]
    AppTooOld {
        /// The oldest version the server syncs with, when it said.
        minimum: Option<String>,
    },
    /// The device credential expired: the phone must be enrolled again.
    #[error(
        "this phone's credential expired; enrol it again with a new code (every change stays on the phone)"
    )]
    CredentialExpired,
    /// The device credential was revoked: the phone must be enrolled again.
    #[error(
        "this phone's credential was revoked; enrol it again with a new code (every change stays on the phone)"
    )]
    CredentialRevoked,
    /// The sync session failed part way.
    #[error("the sync was interrupted: {0}; nothing is lost, it continues next time")]
    Interrupted(String),
    /// Some visits or blobs are still not on the server after every round.
    #[error("{visits} visit(s) and {blobs} photo(s) are not on the server yet: {}", reasons.join("; "))]
    Unfinished {
        /// Visits still differing.
        visits: usize,
        /// Blobs still not uploaded.
        blobs: usize,
        /// Why, for each blob that failed.
        reasons: Vec<String>,
    },
}

impl SyncError {
    /// Whether the server refuses this phone until someone acts (enrols it
    /// again, updates the app or lowers the minimum): nothing else in the
    /// sync can get through either, and retrying on a timer cannot help.
    /// A refused certificate is not one: a captive portal or a hostile
    /// Wi-Fi passes when the phone moves on, and retrying sends nothing.
    pub fn needs_someone(&self) -> bool {
        matches!(
            self,
            SyncError::AppTooOld { .. }
                | SyncError::InsecureServer(_)
                | SyncError::CredentialExpired
                | SyncError::CredentialRevoked
                | SyncError::Refused { status: 401 | 403, .. }
        )
    }

    /// The oldest app version the server syncs with, when it refused this
    /// one: the UI says which version to install.
    pub fn minimum_app_version(&self) -> Option<&str> {
        match self {
            SyncError::AppTooOld { minimum } => minimum.as_deref(),
            _ => None,
        }
    }

    /// Stable code for the UI.
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::NotEnrolled => "not_enrolled",
            SyncError::BadServer(_) => "bad_server",
            SyncError::InsecureServer(_) => "insecure_server",
            SyncError::BadLink(_) => "bad_link",
            SyncError::WrongCertificate { .. } => "wrong_certificate",
            SyncError::UntrustedCertificate(_) => "untrusted_certificate",
            SyncError::Offline(_) => "offline",
            SyncError::Refused { .. } => "refused",
            SyncError::AppTooOld { .. } => APP_TOO_OLD,
            SyncError::CredentialExpired => "credential_expired",
            SyncError::CredentialRevoked => "credential_revoked",
            SyncError::Interrupted(_) => "interrupted",
            SyncError::Unfinished { .. } => "unfinished",
        }
    }
}

/// What a sync is doing, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Uploading photos and signatures.
    Blobs,
    /// Comparing manifests.
    Manifest,
    /// Syncing visit documents.
    Documents,
    /// Finished.
    Done,
}

/// Progress of a sync: emitted after every step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// What is happening.
    pub phase: Phase,
    /// Visits synced so far / to sync.
    pub docs_done: usize,
    /// Visits to sync in this round.
    pub docs_total: usize,
    /// Blob bytes sent so far.
    pub bytes_done: u64,
    /// Blob bytes to send.
    pub bytes_total: u64,
}

/// What a finished sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// The first manifest already matched: nothing was sent but the digest.
    pub already_in_sync: bool,
    /// Blobs uploaded (or found already on the server).
    pub blobs_uploaded: usize,
    /// Blob bytes sent.
    pub blob_bytes_sent: u64,
    /// Visits synced: pushed, pulled, or both (counted once).
    pub visits_synced: usize,
    /// Visits new to this phone (assigned by the back office).
    pub visits_received: usize,
    /// Manifest rounds taken.
    pub rounds: usize,
    /// The device credential was renewed (and the new one stored).
    #[serde(default)]
    pub credential_renewed: bool,
    /// ID card and bank card photos deleted from the phone after this sync,
    /// their time on the phone over (`crate::retention`); the server keeps them.
    #[serde(default)]
    pub personal_photos_removed: usize,
    /// Visits the server stored with some of this phone's changes put back,
    /// because the back office had moved on (an approval, a cancellation):
    /// what the agent is told, in words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub put_back: Vec<PutBack>,
    /// The server asked for this phone to be wiped: its work was sent, then
    /// its keys were destroyed and its data deleted. The app starts afresh.
    #[serde(default)]
    pub wiped: bool,
    /// The server asked for a new device key, and this sync enrolled one:
    /// the phone signs with it from now on.
    #[serde(default)]
    pub device_key_rotated: bool,
    /// Photos and signature images left on the phone for Wi-Fi: "photos on
    /// Wi-Fi only" is on and the phone was on mobile data.
    #[serde(default)]
    pub photos_waiting_for_wifi: usize,
    /// Visits whose documents the server holds while their photos wait.
    #[serde(default)]
    pub visits_waiting_for_photos: usize,
    /// What this sync sent and received (bodies and websocket messages;
    /// [`crate::usage`] says what is not counted).
    #[serde(default)]
    pub traffic: Traffic,
}

/// A visit whose changes from this phone the server put back in part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutBack {
    /// Visit id.
    pub visit: String,
    /// The fields put back (stable codes).
    pub fields: Vec<String>,
    /// What the agent is told, in its words.
    pub message: String,
}

/// Why the last sync failed, as kept on the phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncFailure {
    /// Stable code (see [`SyncError::code`]).
    pub code: String,
    /// The agent-facing words.
    pub message: String,
    /// When it failed (ms since epoch).
    pub at: i64,
    /// The oldest app version the server syncs with, when the server
    /// refused this one ([`SyncError::AppTooOld`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_app_version: Option<String>,
}

/// Where this phone's sync stands: kept in the store, so it reads the same
/// after the app restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatus {
    /// The agent this phone is enrolled for.
    pub enrolled_agent: Option<String>,
    /// The server it syncs with.
    pub server: Option<String>,
    /// When a sync last ended without a failure (ms since epoch): every
    /// visit and blob on the server, or every visit with its photos
    /// waiting for Wi-Fi (`photos_waiting_for_wifi`).
    pub last_success: Option<i64>,
    /// When the last sync started (ms since epoch).
    pub last_attempt: Option<i64>,
    /// Syncs that failed since the last success.
    pub failures: u32,
    /// Why the last one failed, when it did.
    pub last_error: Option<SyncFailure>,
    /// The last sync never ended: the app was killed or the phone died mid-sync.
    pub interrupted: bool,
    /// Visits with changes the server has not confirmed.
    pub unsynced_visits: usize,
    /// When the device credential expires (Unix seconds), when known
    /// (phones enrolled before it was kept learn it at their next renewal).
    pub credential_expires_at: Option<i64>,
    /// The agent chose "photos on Wi-Fi only".
    #[serde(default)]
    pub photos_on_wifi_only: bool,
    /// Photos and signature images the last sync left on the phone for Wi-Fi.
    #[serde(default)]
    pub photos_waiting_for_wifi: usize,
    /// Unsynced visits whose documents the server holds as the phone does,
    /// waiting only for their photos: no reason to sync again at once.
    #[serde(default)]
    pub visits_waiting_for_photos: usize,
    /// Everything the syncs sent and received since the count began
    /// ([`Agent::data_usage`] has it per visit).
    #[serde(default)]
    pub data_used: Traffic,
}

/// Stored enrolment.
#[derive(Debug, Clone)]
struct Enrolment {
    server: url::Url,
    token: String,
    peer: String,
    /// The TLS configuration of every connection to the server.
    tls: Arc<rustls::ClientConfig>,
}

impl Enrolment {
    /// The URL of an API path on the enrolled server.
    fn api(&self, path: &str) -> Result<url::Url, SyncError> {
        self.server.join(path).map_err(|_| SyncError::BadServer(self.server.to_string()))
    }
}

/// A failed request: a refused certificate in its causes is said as such,
/// anything else is the network.
fn http_error(e: reqwest::Error) -> SyncError {
    match certificate_problem(&e) {
        Some(problem) => certificate_error(problem),
        None => SyncError::Offline(e.without_url().to_string()),
    }
}

fn certificate_error(problem: CertificateProblem) -> SyncError {
    match problem {
        CertificateProblem::WrongPin { presented } => {
            SyncError::WrongCertificate { presented: presented.to_string() }
        }
        CertificateProblem::Untrusted(why) => SyncError::UntrustedCertificate(why),
    }
}

async fn refused(response: reqwest::Response) -> SyncError {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    refusal(status, &body)
}

/// What a refusal from the server means for the phone: a too-old app and
/// a lapsed credential have their own words; the rest is the server's.
fn refusal(status: u16, body: &serde_json::Value) -> SyncError {
    let code = body["error"].as_str().unwrap_or("unknown");
    match (status, code) {
        (426, _) | (_, APP_TOO_OLD) => {
            let minimum = serde_json::from_value::<AppTooOld>(body.clone()).ok().map(|b| b.minimum);
            SyncError::AppTooOld { minimum }
        }
        (401, "credential_expired") => SyncError::CredentialExpired,
        (401, "credential_revoked") => SyncError::CredentialRevoked,
        _ => SyncError::Refused {
            status,
            code: code.to_owned(),
            message: body["message"].as_str().unwrap_or("no reason given").to_owned(),
        },
    }
}

/// The app version this build sends.
pub const APP_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The headers every request to the server carries: the app's version, the
/// visit schema version it writes and the sync protocol it speaks.
pub fn version_headers() -> Vec<(String, String)> {
    vec![
        (APP_VERSION_HEADER.to_owned(), APP_VERSION.to_owned()),
        (SCHEMA_VERSION_HEADER.to_owned(), posfield_shared::visit::SCHEMA_VERSION.to_string()),
        (PROTOCOL_VERSION_HEADER.to_owned(), PROTOCOL_VERSION.to_string()),
    ]
}

fn runtime() -> Result<tokio::runtime::Runtime, SyncError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| SyncError::Interrupted(format!("cannot start the sync runtime: {e}")))
}

/// The TLS configuration for `trust`.
fn tls_config(trust: &Trust) -> Result<Arc<rustls::ClientConfig>, SyncError> {
    posfield_sync_link_client::tls::client_config(trust)
        .map_err(|e| SyncError::Interrupted(format!("cannot set up TLS: {e}")))
}

/// The HTTP client of a sync or an enrolment: every request it sends
/// carries [`version_headers`], over `tls`.
fn client(tls: &rustls::ClientConfig) -> Result<reqwest::Client, SyncError> {
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in version_headers() {
        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| SyncError::Interrupted(e.to_string()))?;
        let value = reqwest::header::HeaderValue::from_str(&value)
            .map_err(|e| SyncError::Interrupted(e.to_string()))?;
        headers.insert(name, value);
    }
    reqwest::Client::builder()
        .use_preconfigured_tls(tls.clone())
        .default_headers(headers)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| SyncError::Interrupted(e.to_string()))
}

/// A server address: `https://` anywhere, plain `http://` only to this
/// device itself (127.0.0.0/8, ::1, `localhost`), where nothing travels
/// over a network.
fn parse_server(server: &str) -> Result<url::Url, SyncError> {
    let url = url::Url::parse(server.trim()).map_err(|_| SyncError::BadServer(server.to_owned()))?;
    let Some(host) = url.host() else {
        return Err(SyncError::BadServer(server.to_owned()));
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&host) => Ok(url),
        "http" => Err(SyncError::InsecureServer(server.to_owned())),
        _ => Err(SyncError::BadServer(server.to_owned())),
    }
}

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(address) => address.is_loopback(),
        url::Host::Ipv6(address) => address.is_loopback(),
    }
}

/// The merchant's verification page of an acceptance ([`Agent::verification`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// The page's address.
    pub url: String,
    /// A QR code of the address, as SVG.
    pub qr_svg: String,
}

impl Agent {
    /// The merchant's verification page of visit `id`'s acceptance, as the
    /// app shows it after signing: its address (the server's and
    /// [`posfield_shared::visit::acceptance::verification_path`]) and a QR
    /// code of it. `None` before the merchant signed, or before the phone
    /// was enrolled (there is no server to point at).
    pub fn verification(&mut self, id: &VisitId) -> Result<Option<Verification>, AgentError> {
        let Some(server) = self.store().setting(SETTING_SERVER)? else { return Ok(None) };
        let visit = self.visit(id)?;
        let Some(acceptance) = &visit.acceptance else { return Ok(None) };
        let path = posfield_shared::visit::acceptance::verification_path(&visit.id, &acceptance.content_hash);
        let bad_server = || SyncError::BadServer(server.clone());
        let url = parse_server(&server)?.join(&path).map_err(|_| bad_server())?.to_string();
        // Only an absurdly long server address makes too long a code.
        let qr_svg = posfield_barcode::qr::QrCode::of(&url).map_err(|_| bad_server())?.svg();
        Ok(Some(Verification { url, qr_svg }))
    }

    fn enrolment(&self) -> Result<Enrolment, AgentError> {
        let get = |key| self.store().setting(key);
        match (get(SETTING_SERVER)?, get(SETTING_TOKEN)?, get(SETTING_PEER)?) {
            (Some(server), Some(token), Some(peer)) => {
                let pin = match get(SETTING_PIN)?.filter(|p| !p.is_empty()) {
                    Some(pin) => {
                        Some(SpkiPin::parse(&pin).map_err(|e| SyncError::Interrupted(e.to_string()))?)
                    }
                    None => None,
                };
                let tls = tls_config(&self.trust(pin))?;
                Ok(Enrolment { server: parse_server(&server)?, token, peer, tls })
            }
            _ => Err(SyncError::NotEnrolled.into()),
        }
    }

    /// Whom the phone trusts as its server: the pinned key when it was
    /// enrolled with one, else the roots given to [`Agent::trust_only_roots`],
    /// else the platform's.
    fn trust(&self, pin: Option<SpkiPin>) -> Trust {
        match pin {
            Some(pin) => Trust::Pinned(pin),
            None if !self.trusted_roots.is_empty() => Trust::Roots(self.trusted_roots.clone()),
            None => Trust::Platform,
        }
    }

    /// Trusts servers whose certificates chain to these root certificates
    /// (DER) instead of the platform's roots, for this agent's life in
    /// memory: tests with a certificate authority of their own, and private
    /// authorities. A pinned enrolment still trusts only its pin. Nothing
    /// reads roots from the environment.
    pub fn trust_only_roots(&mut self, roots_der: Vec<Vec<u8>>) {
        self.trusted_roots = roots_der;
    }

    /// The agent name this phone is enrolled for, if enrolled.
    pub fn enrolled_agent(&self) -> Result<Option<String>, AgentError> {
        Ok(self.store().setting(SETTING_AGENT)?)
    }

    /// When the last sync that finished everything ended (ms since epoch).
    pub fn last_sync_success(&self) -> Result<Option<i64>, AgentError> {
        Ok(self.store().setting(SETTING_LAST_SUCCESS)?.and_then(|s| s.parse().ok()))
    }

    /// Enrols this phone with a server using a one-time code; the agent is
    /// signed in as the agent the code was issued for. Re-enrolling keeps
    /// every visit and photo on the phone. The server is trusted by the
    /// platform's roots (or [`Agent::trust_only_roots`]).
    pub fn enroll(
        &mut self,
        server: &str,
        code: &str,
        device_name: &str,
    ) -> Result<EnrollResponse, AgentError> {
        self.enroll_pinned(server, code, None, device_name)
    }

    /// Enrols with an enrolment link ([`link::EnrolmentLink`]): the server,
    /// the code and, for a private server, the pin of its key, which every
    /// later request and sync connection then requires.
    pub fn enroll_link(&mut self, link: &str, device_name: &str) -> Result<EnrollResponse, AgentError> {
        let link = link::EnrolmentLink::parse(link)?;
        self.enroll_pinned(link.server.as_str(), &link.code, link.pin, device_name)
    }

    /// Enrols as [`Agent::enroll`] does, trusting only the key `pin` names
    /// when there is one; the pin is kept with the enrolment.
    pub fn enroll_pinned(
        &mut self,
        server: &str,
        code: &str,
        pin: Option<SpkiPin>,
        device_name: &str,
    ) -> Result<EnrollResponse, AgentError> {
        let base = parse_server(server)?;
        let tls = tls_config(&self.trust(pin))?;
        let request = EnrollRequest {
            code: code.trim().to_owned(),
            device_id: self.device_id().to_owned(),
            device_name: device_name.to_owned(),
            public_key: self.device_public_key(),
            previous_token: self.store().setting(SETTING_TOKEN)?,
        };
        let url = base.join("api/v1/enroll").map_err(|_| SyncError::BadServer(server.to_owned()))?;
        let enrolled: EnrollResponse =
            runtime()?.block_on(json_reply(client(&tls)?.post(url).json(&request)))?;
        let store = self.store_mut();
        store.set_settings(&[
            (SETTING_SERVER, base.as_str()),
            (SETTING_PIN, &pin.map(|p| p.to_string()).unwrap_or_default()),
            (SETTING_TOKEN, &enrolled.token),
            (SETTING_EXPIRES_AT, &enrolled.expires_at.to_string()),
            (SETTING_PEER, &enrolled.peer),
            (SETTING_SERVER_DEVICE, &enrolled.device_id),
            (SETTING_AGENT, &enrolled.agent),
            // A wipe asked of an earlier enrolment is not this one's.
            (crate::agent::SETTING_WIPE_ASKED, ""),
        ])?;
        self.use_actor_prefix(enrolled.actor_prefix.as_deref())?;
        self.sign_in(&enrolled.agent)?;
        Ok(enrolled)
    }

    /// Where this phone's sync stands.
    pub fn sync_status(&self) -> Result<SyncStatus, AgentError> {
        let get = |key| self.store().setting(key);
        let millis = |value: Option<String>| value.and_then(|v| v.parse::<i64>().ok());
        let last_attempt = millis(get(SETTING_ATTEMPT_STARTED)?);
        let ended = millis(get(SETTING_ATTEMPT_ENDED)?);
        Ok(SyncStatus {
            enrolled_agent: get(SETTING_AGENT)?,
            server: get(SETTING_SERVER)?,
            last_success: millis(get(SETTING_LAST_SUCCESS)?),
            last_attempt,
            failures: get(SETTING_FAILURES)?.and_then(|v| v.parse().ok()).unwrap_or(0),
            last_error: get(SETTING_LAST_ERROR)?.and_then(|v| serde_json::from_str(&v).ok()),
            interrupted: last_attempt.is_some_and(|started| ended.is_none_or(|ended| ended < started)),
            unsynced_visits: self.store().unsynced_count()?,
            credential_expires_at: get(SETTING_EXPIRES_AT)?.and_then(|v| v.parse().ok()),
            photos_on_wifi_only: self.photos_on_wifi_only()?,
            photos_waiting_for_wifi: get(SETTING_PHOTOS_WAITING)?.and_then(|v| v.parse().ok()).unwrap_or(0),
            visits_waiting_for_photos: self.store().visits_waiting_for_photos()?.len(),
            data_used: self.store().data_usage_total()?,
        })
    }

    /// Whether the agent chose "photos on Wi-Fi only" (off until chosen).
    pub fn photos_on_wifi_only(&self) -> Result<bool, AgentError> {
        Ok(self.store().setting(SETTING_PHOTOS_ON_WIFI_ONLY)?.is_some_and(|v| v == "1"))
    }

    /// Chooses whether photos and signature images wait for Wi-Fi while the
    /// phone is on mobile data (the visit documents go at once either way).
    /// Kept in the store: the background sync reads it at every sync.
    pub fn set_photos_on_wifi_only(&mut self, on: bool) -> Result<(), AgentError> {
        Ok(self.store_mut().set_setting(SETTING_PHOTOS_ON_WIFI_ONLY, if on { "1" } else { "0" })?)
    }

    /// Where this agent's syncs learn which network the phone is on (a
    /// [`crate::network::Desktop`], which cannot tell, until set): the app
    /// shell hands a phone's here, shared with the background sync.
    pub fn use_connection_source(&mut self, source: Arc<dyn ConnectionSource>) {
        self.connection = source;
    }

    /// The network the phone is on, as its source says.
    pub fn connection(&self) -> Connection {
        self.connection.connection()
    }

    /// The unsynced visits whose documents the server holds as the phone
    /// does, waiting only for their photos (held for Wi-Fi).
    pub fn visits_waiting_for_photos(&self) -> Result<Vec<String>, AgentError> {
        Ok(self.store().visits_waiting_for_photos()?)
    }

    /// What the syncs sent and received, per visit and in all, since the
    /// count began ([`crate::usage`] says what is counted and how).
    pub fn data_usage(&self) -> Result<DataUsage, AgentError> {
        Ok(self.store().data_usage()?)
    }

    /// Runs one full sync; `progress` is called after every step. Succeeds
    /// only when every visit and blob is on the server, or every visit with
    /// its blobs left for Wi-Fi ("photos on Wi-Fi only" on mobile data: the
    /// report counts them; the visits stay unsynced until they are up).
    /// The data it uses is counted per visit ([`Agent::data_usage`]). The attempt and its
    /// outcome are recorded in the store ([`Agent::sync_status`]), so a sync
    /// cut by the app being killed is known as such at the next start.
    pub fn sync(&mut self, progress: &mut dyn FnMut(Progress)) -> Result<SyncReport, AgentError> {
        self.enrolment()?;
        let started = self.now_millis();
        // Never equal to a previous end, so an attempt cut now reads as interrupted.
        let ended_before = self.sync_status()?.last_attempt.unwrap_or(i64::MIN);
        self.store_mut().set_setting(SETTING_ATTEMPT_STARTED, &started.max(ended_before + 1).to_string())?;
        let received_before = self.store().data_usage_total()?.received;
        let outcome = self.sync_once(progress);
        if let Err(error) = &outcome
            && error.code() == "credential_revoked"
            && self.store().setting(crate::agent::SETTING_WIPE_ASKED)?.is_some_and(|v| v == "1")
        {
            // Asked to wipe, then revoked before it could send its work: the
            // server will take nothing more from it, and the keys still go.
            self.begin_wipe()?;
            self.finish_wipe()?;
            return Ok(SyncReport { wiped: true, ..SyncReport::default() });
        }
        let at = self.now_millis().max(started.max(ended_before + 1));
        let store = self.store_mut();
        store.set_setting(SETTING_ATTEMPT_ENDED, &at.to_string())?;
        match &outcome {
            Ok(report) => {
                store.set_settings(&[
                    (SETTING_FAILURES, "0"),
                    (SETTING_LAST_ERROR, ""),
                    (SETTING_PHOTOS_WAITING, &report.photos_waiting_for_wifi.to_string()),
                ])?;
            }
            Err(error) => {
                let failures =
                    store.setting(SETTING_FAILURES)?.and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
                // A connection cut while the server was answering is a poor
                // signal, not a server out of reach: the next try comes after
                // the first retry's delay, not a doubled one, or a day of
                // syncs cut every half minute backs off for hours.
                let reached = store.data_usage_total()?.received > received_before;
                let failures =
                    if error.code() == "offline" && reached { 1 } else { failures.saturating_add(1) };
                store.set_setting(SETTING_FAILURES, &failures.to_string())?;
                let minimum_app_version = error.minimum_app_version().map(str::to_owned);
                let failure = SyncFailure {
                    code: error.code().to_owned(),
                    message: error.to_string(),
                    at,
                    minimum_app_version,
                };
                let failure =
                    serde_json::to_string(&failure).map_err(|e| SyncError::Interrupted(e.to_string()))?;
                store.set_setting(SETTING_LAST_ERROR, &failure)?;
            }
        }
        outcome
    }

    /// One sync: plan, carry out, observe, until the plan is finished.
    fn sync_once(&mut self, progress: &mut dyn FnMut(Progress)) -> Result<SyncReport, AgentError> {
        let mut executor = execute::Executor::new(self)?;
        let mut plan = Planner::new(&executor.phone_state()?);
        loop {
            match plan.next_step() {
                Step::Finish(outcome) => {
                    let rotated = executor.device_key_rotated;
                    let traffic = executor.tally.total;
                    let outcome =
                        outcome.map(|report| SyncReport { device_key_rotated: rotated, traffic, ..report });
                    if outcome.is_ok() && executor.wipe_asked()? && executor.nothing_left_to_send()? {
                        // Everything this phone held is on the server (an
                        // edit the app made during this sync waits for the
                        // next one). The keys go first, so a kill from here
                        // on leaves nothing readable; then the server is
                        // told, with the credential still in memory (a lost
                        // answer leaves the wipe shown as asked, not done);
                        // then the files go.
                        executor.begin_wipe()?;
                        let _ = executor.confirm_wiped();
                        drop(executor);
                        self.finish_wipe()?;
                        plan.progress().into_iter().for_each(&mut *progress);
                        return outcome
                            .map(|report| SyncReport { wiped: true, ..report })
                            .map_err(AgentError::from);
                    }
                    if outcome.is_ok() {
                        executor.record_success()?;
                        // Everything is on the server: the personal photos
                        // whose time on the phone is over can go. Looking
                        // costs a load of every approved visit, so it is done
                        // when this sync moved visits (an approval arrives
                        // so) and otherwise once a day, as the days pass.
                        // One that cannot be deleted now is tried again then.
                        drop(executor);
                        let moved = outcome.as_ref().is_ok_and(|report| report.visits_synced > 0);
                        let removed = if moved || self.retention_due()? {
                            self.apply_photo_retention().unwrap_or(0)
                        } else {
                            0
                        };
                        plan.progress().into_iter().for_each(&mut *progress);
                        return outcome
                            .map(|report| SyncReport { personal_photos_removed: removed, ..report })
                            .map_err(AgentError::from);
                    }
                    plan.progress().into_iter().for_each(&mut *progress);
                    return outcome.map_err(AgentError::from);
                }
                step => {
                    plan.progress().into_iter().for_each(&mut *progress);
                    executor.carry_out(step, &mut plan, progress)?;
                }
            }
        }
    }
}

/// Sends a request and reads its JSON answer, or the server's JSON error.
async fn json_reply<T: serde::de::DeserializeOwned>(
    request: reqwest::RequestBuilder,
) -> Result<T, SyncError> {
    let response = request.send().await.map_err(http_error)?;
    if !response.status().is_success() {
        return Err(refused(response).await);
    }
    response.json().await.map_err(http_error)
}

#[cfg(test)]
mod tls_tests;

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::an_app_too_old_names_the_minimum(
        426,
        serde_json::json!({"error": "app_too_old", "message": "m", "minimum": "0.2.0", "app_version": "0.1.0"}),
        SyncError::AppTooOld { minimum: Some("0.2.0".into()) }
    )]
    #[case::a_426_without_a_body_is_still_too_old(426, serde_json::json!(null), SyncError::AppTooOld { minimum: None })]
    #[case::an_expired_credential(401, serde_json::json!({"error": "credential_expired", "message": "m"}), SyncError::CredentialExpired)]
    #[case::a_revoked_credential(401, serde_json::json!({"error": "credential_revoked", "message": "m"}), SyncError::CredentialRevoked)]
    #[case::anything_else_is_the_servers_words(
        401,
        serde_json::json!({"error": "unauthenticated", "message": "no valid credential"}),
        SyncError::Refused { status: 401, code: "unauthenticated".into(), message: "no valid credential".into() }
    )]
    fn a_refusal_becomes_the_error_the_phone_can_say(
        #[case] status: u16,
        #[case] body: serde_json::Value,
        #[case] expected: SyncError,
    ) {
        let error = refusal(status, &body);
        assert_eq!(error, expected);
        // What only someone can fix stops the timer's retries.
        assert!(error.needs_someone());
    }

    #[test]
    fn the_words_say_what_to_do_and_that_nothing_is_lost() {
        let too_old = SyncError::AppTooOld { minimum: Some("0.2.0".into()) };
        assert!(too_old.to_string().contains("update the app to 0.2.0 or later to sync"), "{too_old}");
        assert!(SyncError::AppTooOld { minimum: None }.to_string().contains("the newest version"));
        for error in [too_old, SyncError::CredentialExpired, SyncError::CredentialRevoked] {
            assert!(error.to_string().contains("stays on the phone"), "{error}");
        }
        assert!(SyncError::CredentialExpired.to_string().contains("enrol it again"));
        assert!(!SyncError::Offline("x".into()).needs_someone());
        let headers: Vec<String> = version_headers().into_iter().map(|(name, _)| name).collect();
        assert_eq!(headers, ["posfield-app-version", "posfield-schema-version", "posfield-protocol"]);
    }

    #[rstest]
    #[case::https_anywhere("https://pos.example.com/", Ok("https://pos.example.com/"))]
    #[case::https_with_a_port_and_a_path(
        "https://10.0.0.5:8443/posfield/",
        Ok("https://10.0.0.5:8443/posfield/")
    )]
    #[case::http_to_loopback("http://127.0.0.1:8080", Ok("http://127.0.0.1:8080/"))]
    #[case::http_to_the_whole_loopback_range("http://127.1.2.3:8080/", Ok("http://127.1.2.3:8080/"))]
    #[case::http_to_localhost("http://LOCALHOST:8080/", Ok("http://localhost:8080/"))]
    #[case::http_to_ipv6_loopback("http://[::1]:8080/", Ok("http://[::1]:8080/"))]
    #[case::http_elsewhere("http://pos.example.com/", Err("insecure_server"))]
    #[case::http_to_a_private_address("http://192.168.1.10:8080/", Err("insecure_server"))]
    #[case::http_to_a_name_that_ends_in_localhost("http://localhost.example.com/", Err("insecure_server"))]
    #[case::http_to_any_address("http://0.0.0.0:8080/", Err("insecure_server"))]
    #[case::another_scheme("ftp://pos.example.com/", Err("bad_server"))]
    #[case::no_scheme("pos.example.com", Err("bad_server"))]
    #[case::nothing("", Err("bad_server"))]
    fn only_https_leaves_the_device(#[case] server: &str, #[case] expected: Result<&str, &str>) {
        let parsed = parse_server(server);
        match expected {
            Ok(url) => assert_eq!(parsed.map(|u| u.to_string()).as_deref(), Ok(url)),
            Err(code) => {
                let error = parsed.unwrap_err();
                assert_eq!(error.code(), code, "{server}");
                // The words carry the address and say what to type.
                assert!(
                    error.to_string().contains(server) && error.to_string().contains("https://"),
                    "{error}"
                );
            }
        }
    }
}
