//! The agent's sync client: enrolment, then syncs that bring every visit,
//! photo and signature to the server and the back office's changes back.
//!
//! One sync:
//! 1. sends the manifest digest: when the server's digest over the visits
//!    this agent may see is the same, the documents are in sync (one round
//!    trip, a few hundred bytes);
//! 2. otherwise syncs, over one websocket, only the visits whose heads
//!    differ, each within a deadline, merging what comes back into the store,
//!    and asks again (a server that restored a back-office field has new
//!    heads), a bounded number of times;
//! 3. once the documents agree, uploads every blob the waiting visits refer
//!    to that the server has not confirmed (resuming a cut upload where the
//!    server's copy ends, a few at a time), and marks the visits synced only
//!    when every one of them was verified by the server. Documents go first
//!    because they are small: on a weak signal the back office sees the
//!    visits, marked as waiting for photos, long before the photos are through.
//!
//! Every step is idempotent and the store stays the only copy of record, so a
//! sync cut anywhere (signal lost, app killed) simply starts over next time.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt;
use posfield_shared::VisitId;
use posfield_shared::protocol::{
    EnrollRequest, EnrollResponse, ManifestRequest, ManifestResponse, PUSH_MAX_VISITS, PUSH_MEDIA_TYPE,
    PushRequest, PushResponse, PushedVisit, decode_cbor, digest, encode_cbor,
};
use posfield_sync_link::client::{Endpoint, Session};
use serde::{Deserialize, Serialize};

use crate::agent::{Agent, AgentError};

const SETTING_SERVER: &str = "sync.server";
const SETTING_TOKEN: &str = "sync.token";
const SETTING_PEER: &str = "sync.peer";
/// The server's id for this phone (what an administrator revokes).
const SETTING_SERVER_DEVICE: &str = "sync.device";
const SETTING_AGENT: &str = "sync.agent";
const SETTING_LAST_SUCCESS: &str = "sync.last_success";
const SETTING_ATTEMPT_STARTED: &str = "sync.attempt_started";
const SETTING_ATTEMPT_ENDED: &str = "sync.attempt_ended";
const SETTING_FAILURES: &str = "sync.failures";
const SETTING_LAST_ERROR: &str = "sync.last_error";

/// Longest one visit's sync may take within a session.
const VISIT_DEADLINE: Duration = Duration::from_secs(30);

/// How many manifest rounds one sync may take before it reports what is left.
const MAX_ROUNDS: usize = 5;

/// Why a sync did not finish.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The phone is not enrolled.
    #[error("this phone is not enrolled with a server yet")]
    NotEnrolled,
    /// The server address is not a usable URL.
    #[error("the server address {0:?} is not an http:// or https:// address")]
    BadServer(String),
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
    /// Stable code for the UI.
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::NotEnrolled => "not_enrolled",
            SyncError::BadServer(_) => "bad_server",
            SyncError::Offline(_) => "offline",
            SyncError::Refused { .. } => "refused",
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
    /// Visits synced over the websocket.
    pub visits_synced: usize,
    /// Visits new to this phone (assigned by the back office).
    pub visits_received: usize,
    /// Manifest rounds taken.
    pub rounds: usize,
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
}

/// Where this phone's sync stands: kept in the store, so it reads the same
/// after the app restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatus {
    /// The agent this phone is enrolled for.
    pub enrolled_agent: Option<String>,
    /// The server it syncs with.
    pub server: Option<String>,
    /// When a sync last finished everything (ms since epoch).
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
}

/// Stored enrolment.
#[derive(Debug, Clone)]
struct Enrolment {
    server: url::Url,
    token: String,
    peer: String,
}

impl Enrolment {
    /// The URL of an API path on the enrolled server.
    fn api(&self, path: &str) -> Result<url::Url, SyncError> {
        self.server.join(path).map_err(|_| SyncError::BadServer(self.server.to_string()))
    }
}

fn http_error(e: reqwest::Error) -> SyncError {
    SyncError::Offline(e.without_url().to_string())
}

async fn refused(response: reqwest::Response) -> SyncError {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    SyncError::Refused {
        status,
        code: body["error"].as_str().unwrap_or("unknown").to_owned(),
        message: body["message"].as_str().unwrap_or("no reason given").to_owned(),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, SyncError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| SyncError::Interrupted(format!("cannot start the sync runtime: {e}")))
}

fn client() -> Result<reqwest::Client, SyncError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| SyncError::Interrupted(e.to_string()))
}

fn parse_server(server: &str) -> Result<url::Url, SyncError> {
    let url = url::Url::parse(server.trim()).map_err(|_| SyncError::BadServer(server.to_owned()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(SyncError::BadServer(server.to_owned()));
    }
    Ok(url)
}

impl Agent {
    fn enrolment(&self) -> Result<Enrolment, AgentError> {
        let get = |key| self.store().setting(key);
        match (get(SETTING_SERVER)?, get(SETTING_TOKEN)?, get(SETTING_PEER)?) {
            (Some(server), Some(token), Some(peer)) => {
                Ok(Enrolment { server: parse_server(&server)?, token, peer })
            }
            _ => Err(SyncError::NotEnrolled.into()),
        }
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
    /// every visit and photo on the phone.
    pub fn enroll(
        &mut self,
        server: &str,
        code: &str,
        device_name: &str,
    ) -> Result<EnrollResponse, AgentError> {
        let base = parse_server(server)?;
        let request = EnrollRequest {
            code: code.trim().to_owned(),
            device_id: self.device_id().to_owned(),
            device_name: device_name.to_owned(),
            public_key: self.device_public_key(),
        };
        let url = base.join("api/v1/enroll").map_err(|_| SyncError::BadServer(server.to_owned()))?;
        let enrolled: EnrollResponse = runtime()?.block_on(json_reply(client()?.post(url).json(&request)))?;
        let store = self.store_mut();
        store.set_setting(SETTING_SERVER, base.as_str())?;
        store.set_setting(SETTING_TOKEN, &enrolled.token)?;
        store.set_setting(SETTING_PEER, &enrolled.peer)?;
        store.set_setting(SETTING_SERVER_DEVICE, &enrolled.device_id)?;
        store.set_setting(SETTING_AGENT, &enrolled.agent)?;
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
        })
    }

    /// Runs one full sync; `progress` is called after every step. Succeeds
    /// only when every visit and blob is on the server. The attempt and its
    /// outcome are recorded in the store ([`Agent::sync_status`]), so a sync
    /// cut by the app being killed is known as such at the next start.
    pub fn sync(&mut self, progress: &mut dyn FnMut(Progress)) -> Result<SyncReport, AgentError> {
        self.enrolment()?;
        let started = self.now_millis();
        // Never equal to a previous end, so an attempt cut now reads as interrupted.
        let ended_before = self.sync_status()?.last_attempt.unwrap_or(i64::MIN);
        self.store_mut().set_setting(SETTING_ATTEMPT_STARTED, &started.max(ended_before + 1).to_string())?;
        let outcome = self.sync_once(progress);
        let at = self.now_millis().max(started.max(ended_before + 1));
        let store = self.store_mut();
        store.set_setting(SETTING_ATTEMPT_ENDED, &at.to_string())?;
        match &outcome {
            Ok(_) => {
                store.set_setting(SETTING_FAILURES, "0")?;
                store.set_setting(SETTING_LAST_ERROR, "")?;
            }
            Err(error) => {
                let failures =
                    store.setting(SETTING_FAILURES)?.and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
                store.set_setting(SETTING_FAILURES, &(failures.saturating_add(1)).to_string())?;
                let failure = SyncFailure { code: error.code().to_owned(), message: error.to_string(), at };
                let failure =
                    serde_json::to_string(&failure).map_err(|e| SyncError::Interrupted(e.to_string()))?;
                store.set_setting(SETTING_LAST_ERROR, &failure)?;
            }
        }
        outcome
    }

    fn sync_once(&mut self, progress: &mut dyn FnMut(Progress)) -> Result<SyncReport, AgentError> {
        let enrolment = self.enrolment()?;
        let rt = runtime()?;
        let http = client()?;
        let mut report = SyncReport::default();
        // Counted over the whole sync, so the progress bar only moves forward.
        let mut bar =
            Progress { phase: Phase::Manifest, docs_done: 0, docs_total: 0, bytes_done: 0, bytes_total: 0 };
        // The photos of the visits waiting now, sent once their documents are on the server.
        let mut unsent = self.pending_blobs()?;
        bar.bytes_total = unsent.iter().map(|(_, size)| size).sum();
        let mut attempted: BTreeSet<String> = BTreeSet::new();
        let mut blob_failures = Vec::new();
        // Visits the server refused in a push, with why.
        let mut refusals: BTreeMap<String, String> = BTreeMap::new();
        let mut upload = Upload { rt: &rt, http: &http, enrolment: &enrolment };
        let mut left = 0;
        for round in 0..MAX_ROUNDS {
            report.rounds = round + 1;
            bar.phase = Phase::Manifest;
            progress(bar);
            let local: BTreeMap<String, String> = self.store_mut().sync_manifest()?.into_iter().collect();
            let ours = digest(local.iter().map(|(id, heads)| (id.as_str(), heads.as_str())));
            let uploads_pending = !unsent.is_empty();
            let answer = rt.block_on(post_manifest(&http, &enrolment, &ours, uploads_pending))?;
            if answer.in_sync {
                // 3. Every document is on the server: now the photos they
                // refer to, and any the server lacks though the phone had them
                // confirmed (a server restored from an older backup; listed
                // once the phone has nothing else to upload).
                let mut send = std::mem::take(&mut unsent);
                for sha in &answer.missing_blobs {
                    let known = attempted.contains(sha) || send.iter().any(|(s, _)| s == sha);
                    if !known && self.blobs().contains(sha) {
                        let size =
                            std::fs::metadata(self.blobs().path_of(sha)?).map(|m| m.len()).unwrap_or(0);
                        bar.bytes_total += size;
                        send.push((sha.clone(), size));
                    }
                }
                attempted.extend(send.iter().map(|(sha, _)| sha.clone()));
                if !send.is_empty() {
                    bar.phase = Phase::Blobs;
                    progress(bar);
                    upload.all(self, &send, &mut report, &mut blob_failures, &mut |report| {
                        bar.bytes_done = report.blob_bytes_sent;
                        progress(bar);
                    })?;
                    if uploads_pending && blob_failures.is_empty() {
                        // Ask once more, for any blob the server lost.
                        left = local.len();
                        continue;
                    }
                }
                report.already_in_sync = round == 0 && report.blobs_uploaded == 0;
                left = 0;
                if !blob_failures.is_empty() {
                    // Not synced while a photo it refers to is missing on the server.
                    break;
                }
                // Each photo was verified by the server as it arrived.
                let at = self.now_millis();
                for (id, heads) in &local {
                    let heads: Vec<String> = heads.split(',').map(str::to_owned).collect();
                    self.store_mut().mark_synced(id, &heads, at)?;
                }
                break;
            }
            let server: BTreeMap<String, String> =
                answer.visits.into_iter().map(|v| (v.id, v.heads)).collect();
            let differing: BTreeSet<String> = local
                .iter()
                .filter(|(id, heads)| server.get(*id) != Some(*heads))
                .map(|(id, _)| id.clone())
                .chain(server.keys().filter(|id| !local.contains_key(*id)).cloned())
                .collect();
            left = differing.len();
            // A visit the server refused in this sync is not sent again in it.
            let differing: BTreeSet<String> =
                differing.into_iter().filter(|id| !refusals.contains_key(id)).collect();
            if differing.is_empty() && !refusals.is_empty() {
                break;
            }
            if differing.is_empty() {
                // The server's projection lags its documents by a moment.
                rt.block_on(async { tokio::time::sleep(Duration::from_millis(200)).await });
                continue;
            }
            // 2. The visit documents first: a few kilobytes each, so on a weak
            // signal the back office sees the visits (as waiting for photos)
            // long before the megabytes of photos are through.
            bar.phase = Phase::Documents;
            bar.docs_total += differing.len();
            progress(bar);
            // What only this phone has goes in pushes: visits new to the
            // server whole, visits the server has an older state of as the
            // changes since it. The rest (the server holds changes this phone
            // lacks) go through automerge's sync protocol.
            let mut pushes = Vec::new();
            let mut exchange = BTreeSet::new();
            for id in &differing {
                match (local.contains_key(id), server.get(id)) {
                    (true, None) => {
                        // A visit that does not compact goes as stored: the
                        // server refuses it alone if it is damaged.
                        let bytes = match self.store().visit_saved_whole(id) {
                            Ok(bytes) => bytes,
                            Err(_) => self.store().visit_bytes(id)?,
                        };
                        pushes.push(PushedVisit { id: id.clone(), base: Vec::new(), bytes: bytes.into() });
                    }
                    (true, Some(theirs)) => {
                        let base = split_heads(theirs);
                        let changes =
                            self.store().load_visit(id).ok().and_then(|mut doc| doc.changes_since(&base));
                        match changes {
                            Some(bytes) => {
                                pushes.push(PushedVisit { id: id.clone(), base, bytes: bytes.into() })
                            }
                            None => {
                                exchange.insert(id.clone());
                            }
                        }
                    }
                    (false, _) => {
                        exchange.insert(id.clone());
                    }
                }
            }
            for batch in push_batches(pushes) {
                let sent: Vec<String> = batch.iter().map(|v| v.id.clone()).collect();
                let answer = rt.block_on(post_push(&http, &enrolment, PushRequest { visits: batch }))?;
                for outcome in answer.visits.into_iter().filter(|o| sent.contains(&o.id)) {
                    match outcome.refused {
                        None => {
                            report.visits_synced += 1;
                            bar.docs_done += 1;
                        }
                        Some(code) => {
                            let message = outcome.message.unwrap_or_default();
                            refusals.insert(
                                outcome.id.clone(),
                                format!("visit {}: {message} ({code})", outcome.id),
                            );
                        }
                    }
                }
                progress(bar);
            }
            if exchange.is_empty() {
                continue;
            }
            let mut seeds = Vec::new();
            for id in exchange.iter().filter(|id| local.contains_key(*id)) {
                seeds.push((id.clone(), self.store().visit_bytes(id)?));
            }
            let endpoint = Endpoint {
                url: ws_url(&enrolment.server)?,
                token: enrolment.token.clone(),
                peer: enrolment.peer.clone(),
                // The server serves a bounded number of sync connections at
                // once and the rest wait their turn before the handshake.
                connect_timeout: Duration::from_secs(60),
            };
            let session = rt.block_on(Session::open(&endpoint, seeds)).map_err(link_error)?;
            let mut failure = None;
            {
                let visits = exchange
                    .iter()
                    .map(|id| {
                        let heads = local.get(id).map(|h| split_heads(h)).unwrap_or_default();
                        (id.clone(), heads)
                    })
                    .collect();
                let mut results = std::pin::pin!(session.sync_many(visits, VISIT_DEADLINE));
                while let Some((id, result)) = rt.block_on(results.next()) {
                    match result {
                        Ok(synced) => {
                            if !local.contains_key(&id) {
                                report.visits_received += 1;
                            }
                            // None: the server had nothing this phone lacks.
                            if let Some(bytes) = &synced.bytes {
                                self.store_mut().merge_remote(&id, bytes)?;
                                self.forget_cached(&id);
                            }
                            report.visits_synced += 1;
                            bar.docs_done += 1;
                        }
                        Err(e) => {
                            failure = Some(link_error(e));
                            if !session.is_connected() {
                                break;
                            }
                        }
                    }
                    progress(bar);
                }
            }
            rt.block_on(session.close());
            if let Some(failure) = failure {
                return Err(failure.into());
            }
        }
        if left > 0 || !blob_failures.is_empty() {
            let blobs = blob_failures.len();
            let reasons = refusals.into_values().chain(blob_failures).collect();
            return Err(SyncError::Unfinished { visits: left, blobs, reasons }.into());
        }
        let at = self.now_millis();
        self.store_mut().set_setting(SETTING_LAST_SUCCESS, &at.to_string())?;
        bar.phase = Phase::Done;
        progress(bar);
        Ok(report)
    }

    fn pending_blobs(&mut self) -> Result<Vec<(String, u64)>, AgentError> {
        let mut wanted = BTreeSet::new();
        let filter =
            crate::store::VisitFilter { unsynced_only: true, limit: Some(u32::MAX), ..Default::default() };
        let ids: Vec<VisitId> = self.store().list_visits(&filter)?.into_iter().map(|row| row.id).collect();
        for id in ids {
            let visit = self.visit(&id)?;
            wanted.extend(visit.current_documents().map(|d| d.sha256.clone()));
            if let Some(acceptance) = &visit.acceptance {
                wanted.insert(acceptance.signature.sha256.clone());
                wanted.insert(acceptance.strokes_sha256.clone());
            }
        }
        let mut pending = Vec::new();
        for sha in wanted {
            if self.store().blob_confirmed(&sha)? || !self.blobs().contains(&sha) {
                continue;
            }
            let size = std::fs::metadata(self.blobs().path_of(&sha)?).map(|m| m.len()).unwrap_or(0);
            pending.push((sha, size));
        }
        Ok(pending)
    }
}

/// Photos uploaded at once: enough to hide the round trips on a slow link,
/// few enough to hold only a few photos in memory.
const CONCURRENT_BLOBS: usize = 4;

/// Uploads one blob. Most blobs are new to the server, so the whole blob
/// goes at once; when the server already holds part of it (an upload cut
/// earlier), it refuses that and the upload resumes from what it has.
async fn upload_blob(
    http: &reqwest::Client,
    enrolment: &Enrolment,
    sha: &str,
    bytes: &[u8],
) -> Result<u64, SyncError> {
    let url = enrolment.api(&format!("api/v1/blobs/{sha}"))?;
    let put = |offset: u64| {
        http.put(format!("{url}?offset={offset}"))
            .bearer_auth(&enrolment.token)
            .header("x-blob-size", bytes.len().to_string())
            .body(bytes[offset as usize..].to_vec())
            .send()
    };
    let response = put(0).await.map_err(http_error)?;
    match response.status().as_u16() {
        201 => return Ok(bytes.len() as u64),
        409 => {}
        _ => return Err(refused(response).await),
    }
    let response =
        http.get(format!("{url}/status")).bearer_auth(&enrolment.token).send().await.map_err(http_error)?;
    if !response.status().is_success() {
        return Err(refused(response).await);
    }
    let status: serde_json::Value = response.json().await.map_err(http_error)?;
    if status["complete"].as_bool() == Some(true) {
        return Ok(bytes.len() as u64);
    }
    let offset = status["received"].as_u64().unwrap_or(0).min(bytes.len() as u64);
    let response = put(offset).await.map_err(http_error)?;
    if response.status().as_u16() != 201 {
        return Err(refused(response).await);
    }
    Ok(bytes.len() as u64)
}

/// Uploads blobs within one sync.
struct Upload<'a> {
    rt: &'a tokio::runtime::Runtime,
    http: &'a reqwest::Client,
    enrolment: &'a Enrolment,
}

impl Upload<'_> {
    /// Uploads `blobs` (sha, size), a few at a time, recording each the
    /// server confirms; a blob the server refuses is a failure for the
    /// report, a lost connection or a refused credential ends the sync.
    fn all(
        &mut self,
        agent: &mut Agent,
        blobs: &[(String, u64)],
        report: &mut SyncReport,
        failures: &mut Vec<String>,
        step: &mut dyn FnMut(&SyncReport),
    ) -> Result<(), AgentError> {
        for batch in blobs.chunks(CONCURRENT_BLOBS) {
            let mut loaded = Vec::with_capacity(batch.len());
            for (sha, _) in batch {
                let bytes = agent.blobs().get(sha).map_err(|e| SyncError::Interrupted(e.to_string()))?;
                loaded.push((sha.as_str(), bytes));
            }
            let (http, enrolment) = (self.http, self.enrolment);
            let results = self.rt.block_on(futures::future::join_all(
                loaded.iter().map(|(sha, bytes)| upload_blob(http, enrolment, sha, bytes)),
            ));
            let mut end = None;
            for ((sha, _), result) in loaded.iter().zip(results) {
                match result {
                    Ok(sent) => {
                        report.blobs_uploaded += 1;
                        report.blob_bytes_sent += sent;
                        let at = agent.now_millis();
                        agent.store_mut().mark_blob_confirmed(sha, sent, at)?;
                    }
                    Err(e @ (SyncError::Offline(_) | SyncError::Refused { status: 401, .. })) => {
                        end.get_or_insert(e);
                    }
                    Err(e) => failures.push(format!("photo {}: {e}", &sha[..sha.len().min(12)])),
                }
                step(report);
            }
            if let Some(e) = end {
                return Err(e.into());
            }
        }
        Ok(())
    }
}

/// Bytes one push request carries at most (a single larger visit goes alone):
/// small enough to get through on a weak signal and show progress.
const PUSH_BATCH_BYTES: usize = 512 << 10;

/// Splits pushes into requests of at most [`PUSH_BATCH_BYTES`] and
/// [`PUSH_MAX_VISITS`] visits.
fn push_batches(pushes: Vec<PushedVisit>) -> Vec<Vec<PushedVisit>> {
    let mut batches: Vec<Vec<PushedVisit>> = Vec::new();
    let mut bytes = 0;
    for visit in pushes {
        let full = batches
            .last()
            .is_none_or(|b| b.len() >= PUSH_MAX_VISITS || bytes + visit.bytes.len() > PUSH_BATCH_BYTES);
        if full {
            batches.push(Vec::new());
            bytes = 0;
        }
        bytes += visit.bytes.len();
        if let Some(batch) = batches.last_mut() {
            batch.push(visit);
        }
    }
    batches
}

async fn post_push(
    http: &reqwest::Client,
    enrolment: &Enrolment,
    request: PushRequest,
) -> Result<PushResponse, SyncError> {
    let response = http
        .post(enrolment.api("api/v1/sync/push")?)
        .bearer_auth(&enrolment.token)
        .header(reqwest::header::CONTENT_TYPE, PUSH_MEDIA_TYPE)
        .body(encode_cbor(&request))
        .send()
        .await
        .map_err(http_error)?;
    if !response.status().is_success() {
        return Err(refused(response).await);
    }
    let body = response.bytes().await.map_err(http_error)?;
    decode_cbor(&body)
        .map_err(|e| SyncError::Interrupted(format!("the server's answer to a push is unreadable: {e}")))
}

async fn post_manifest(
    http: &reqwest::Client,
    enrolment: &Enrolment,
    ours: &str,
    uploads_pending: bool,
) -> Result<ManifestResponse, SyncError> {
    json_reply(
        http.post(enrolment.api("api/v1/sync/manifest")?)
            .bearer_auth(&enrolment.token)
            .json(&ManifestRequest { digest: ours.to_owned(), uploads_pending }),
    )
    .await
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

/// Sorted heads from their joined form (empty for none).
fn split_heads(joined: &str) -> Vec<String> {
    let mut heads: Vec<String> = joined.split(',').filter(|h| !h.is_empty()).map(str::to_owned).collect();
    heads.sort();
    heads
}

fn ws_url(server: &url::Url) -> Result<url::Url, SyncError> {
    let mut url = server.join("api/v1/sync/ws").map_err(|_| SyncError::BadServer(server.to_string()))?;
    let scheme = if server.scheme() == "https" { "wss" } else { "ws" };
    url.set_scheme(scheme).map_err(|_| SyncError::BadServer(server.to_string()))?;
    Ok(url)
}

fn link_error(e: posfield_sync_link::LinkError) -> SyncError {
    use posfield_sync_link::LinkError;
    match e {
        LinkError::Refused(status) => SyncError::Refused {
            status,
            code: "sync_refused".into(),
            message: "the server refused the sync connection".into(),
        },
        LinkError::Unreachable(why) => SyncError::Offline(why),
        other => SyncError::Interrupted(other.to_string()),
    }
}
