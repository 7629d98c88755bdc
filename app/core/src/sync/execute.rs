//! Carries out the sync plan: the manifest and push requests, the samod
//! session, the blob uploads and the store's bookkeeping. It decides
//! nothing: every choice is `plan`'s, and everything it sees goes back to
//! the planner as an [`Observation`].
//!
//! A failure of the phone itself (its store, its blob folder) ends the sync
//! here, as an [`AgentError`]; a failure of the server or the network is an
//! observation, and the planner says what follows.
//!
//! Every request's body and answer, and every websocket message, is counted
//! and charged to the visits it served ([`crate::usage`]); what a step
//! counted is added to the store when the step ends, so a sync cut by a
//! kill loses at most the count of the step it was in.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt;
use posfield_shared::protocol::{
    DeviceKeyRotation, ManifestRequest, ManifestResponse, PUSH_MAX_VISITS, PUSH_MEDIA_TYPE, PushRequest,
    PushResponse, PushedVisit, RenewResponse, decode_cbor, digest, encode_cbor,
};
use posfield_shared::visit::schema::Visit;
use posfield_sync_link_client::session::{Endpoint, Session};

use super::plan::{self, Exchange, Observation, PhoneState, Planner, Push, PushBody, Step, Synced, Upload};
use super::{
    Enrolment, SETTING_EXPIRES_AT, SETTING_LAST_SUCCESS, SETTING_TOKEN, SyncError, http_error, refusal,
};
use crate::agent::{Agent, AgentError};
use crate::usage::{Tally, Traffic};

/// Longest one visit's sync may take within a session.
const VISIT_DEADLINE: Duration = Duration::from_secs(30);

/// Bytes one push request carries at most (a single larger visit goes alone):
/// small enough to get through on a weak signal and show progress.
const PUSH_BATCH_BYTES: usize = 512 << 10;

/// The blobs a visit refers to: its current document photos, and the
/// signature images and strokes of its acceptance and its backup waiver.
pub(crate) fn referenced_blobs(visit: &Visit) -> BTreeSet<String> {
    let mut blobs: BTreeSet<String> = visit.current_documents().map(|d| d.sha256.clone()).collect();
    if let Some(acceptance) = &visit.acceptance {
        blobs.insert(acceptance.signature.sha256.clone());
        blobs.insert(acceptance.strokes_sha256.clone());
    }
    if let Some(waiver) = &visit.backup_waiver {
        blobs.insert(waiver.signature.sha256.clone());
        blobs.insert(waiver.strokes_sha256.clone());
    }
    blobs
}

/// One sync's connections to the server and the agent's store.
pub(super) struct Executor<'a> {
    agent: &'a mut Agent,
    enrolment: Enrolment,
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    /// The device key was replaced in this sync.
    pub(super) device_key_rotated: bool,
    /// The visits waiting to sync that refer to each blob, to charge its upload to.
    blob_visits: BTreeMap<String, Vec<String>>,
    /// The data this sync used, by visit, until the store has it.
    pub(super) tally: Tally,
}

impl<'a> Executor<'a> {
    /// An executor for `agent`'s enrolled server.
    pub(super) fn new(agent: &'a mut Agent) -> Result<Executor<'a>, AgentError> {
        let enrolment = agent.enrolment()?;
        let http = super::client(&enrolment.tls)?;
        Ok(Executor {
            agent,
            enrolment,
            rt: super::runtime()?,
            http,
            device_key_rotated: false,
            blob_visits: BTreeMap::new(),
            tally: Tally::default(),
        })
    }

    /// The phone's state for the planner: the visits waiting to sync with
    /// the blobs they refer to, which of those the server confirmed, which
    /// the phone holds, and whether the blobs wait for Wi-Fi (the agent's
    /// choice on mobile data, unless the server asked for a wipe).
    pub(super) fn phone_state(&mut self) -> Result<PhoneState, AgentError> {
        let filter =
            crate::store::VisitFilter { unsynced_only: true, limit: Some(u32::MAX), ..Default::default() };
        let rows = self.agent.store().list_visits(&filter)?;
        let mut phone = PhoneState::default();
        for row in rows {
            let blobs = referenced_blobs(&self.agent.visit(&row.id)?);
            phone.waiting.insert(row.id.into_string(), blobs);
        }
        for (visit, blobs) in &phone.waiting {
            for sha in blobs {
                self.blob_visits.entry(sha.clone()).or_default().push(visit.clone());
            }
        }
        let connection = self.agent.connection();
        phone.photos_wait = crate::network::photos_wait(self.agent.photos_on_wifi_only()?, connection)
            && !self.wipe_asked()?;
        let wanted: BTreeSet<String> = phone.waiting.values().flatten().cloned().collect();
        for sha in wanted {
            if self.agent.store().blob_confirmed(&sha)? {
                phone.confirmed.insert(sha);
            } else if let Some(size) = self.held(&sha)? {
                phone.held.insert(sha, size);
            }
        }
        Ok(phone)
    }

    /// The size of a blob the phone holds.
    fn held(&self, sha: &str) -> Result<Option<u64>, AgentError> {
        Ok(self.agent.blobs().size(sha)?)
    }

    /// Tells the server this phone, asked to wipe itself, has sent its work
    /// and is destroying its keys now.
    pub(super) fn confirm_wiped(&self) -> Result<(), SyncError> {
        let request =
            self.http.post(self.enrolment.api("api/v1/sync/wiped")?).bearer_auth(&self.enrolment.token);
        self.rt.block_on(async {
            let response = request.send().await.map_err(super::http_error)?;
            if response.status().is_success() { Ok(()) } else { Err(super::refused(response).await) }
        })
    }

    /// Replaces the device key, as the server asked (or again, for a
    /// rotation whose answer never came): the next key goes to the server
    /// with the current key's proof, and becomes the device key only once
    /// the server answered that it holds it. If that answer is lost the
    /// phone goes on signing with the current key, which the server still
    /// verifies among the device's earlier keys, and sends the same next
    /// key at its next sync. A refusal drops the next key; a rotation that
    /// fails never stops the sync, whose work matters more.
    fn rotate_device_key(&mut self) -> Result<(), AgentError> {
        let Some(device_id) = self.agent.store().setting(super::SETTING_SERVER_DEVICE)? else {
            return Ok(());
        };
        let next = self.agent.pending_device_key()?;
        let rotation = DeviceKeyRotation {
            public_key: next.public_hex(),
            proof: self.agent.sign_key_rotation(&device_id, &next)?,
        };
        let request = self
            .http
            .post(self.enrolment.api("api/v1/sync/device-key")?)
            .bearer_auth(&self.enrolment.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        let body = json_body(&rotation)?;
        let mut traffic = Traffic::default();
        let answer = self.rt.block_on(counted_ok(request, body, &mut traffic)).map(drop);
        self.tally.other(traffic);
        match answer {
            Ok(()) => {
                self.agent.adopt_pending_device_key()?;
                self.device_key_rotated = true;
            }
            Err(SyncError::Refused { status: 400..=499, .. }) => self.agent.discard_pending_device_key()?,
            Err(_) => {}
        }
        Ok(())
    }

    /// Whether the phone holds nothing the server has not confirmed (the app
    /// may have written during the sync).
    pub(super) fn nothing_left_to_send(&self) -> Result<bool, AgentError> {
        Ok(self.agent.store().unsynced_count()? == 0)
    }

    /// Destroys the data key (the first step of a wipe).
    pub(super) fn begin_wipe(&mut self) -> Result<(), AgentError> {
        self.agent.begin_wipe()
    }

    /// Whether the server asked this phone to wipe itself.
    pub(super) fn wipe_asked(&self) -> Result<bool, AgentError> {
        Ok(self.agent.store().setting(crate::agent::SETTING_WIPE_ASKED)?.is_some_and(|v| v == "1"))
    }

    /// Records a sync that finished everything.
    pub(super) fn record_success(&mut self) -> Result<(), AgentError> {
        let at = self.agent.now_millis();
        self.agent.store_mut().set_setting(SETTING_LAST_SUCCESS, &at.to_string())?;
        Ok(())
    }

    /// Carries out `step`, telling `plan` what it saw and passing on the
    /// progress the plan reports as it goes.
    pub(super) fn carry_out(
        &mut self,
        step: Step,
        plan: &mut Planner,
        progress: &mut dyn FnMut(super::Progress),
    ) -> Result<(), AgentError> {
        let mut tell = |plan: &mut Planner, observation: Observation| {
            plan.observe(observation);
            plan.progress().into_iter().for_each(&mut *progress);
        };
        match step {
            Step::Manifest { uploads_pending } => {
                let phone: BTreeMap<String, String> =
                    self.agent.store_mut().sync_manifest()?.into_iter().collect();
                let ours = digest(phone.iter().map(|(id, heads)| (id.as_str(), heads.as_str())));
                let mut traffic = Traffic::default();
                let answer = self.rt.block_on(post_manifest(
                    &self.http,
                    &self.enrolment,
                    &ours,
                    uploads_pending,
                    &mut traffic,
                ));
                self.tally.other(traffic);
                match answer {
                    Ok(answer) => {
                        if answer.wipe {
                            self.agent.store_mut().set_setting(crate::agent::SETTING_WIPE_ASKED, "1")?;
                        }
                        // Before the pushes: an acceptance signed with the
                        // key being replaced still verifies once it arrives.
                        if answer.rotate_device_key || self.agent.has_pending_device_key()? {
                            self.rotate_device_key()?;
                        }
                        if let Some(days) = answer.personal_photo_days {
                            let key = crate::retention::SETTING_PERSONAL_PHOTO_DAYS;
                            self.agent.store_mut().set_setting(key, &days.to_string())?;
                        }
                        let mut held = BTreeMap::new();
                        for sha in &answer.missing_blobs {
                            if let Some(size) = self.held(sha)? {
                                held.insert(sha.clone(), size);
                            }
                        }
                        tell(plan, Observation::Manifest { phone, answer, held });
                    }
                    Err(error) => tell(plan, Observation::Failed(error)),
                }
            }
            Step::Push(pushes) => self.push(pushes, plan, &mut tell)?,
            Step::Exchange(visits) => self.exchange(visits, plan, &mut tell)?,
            Step::Upload(blobs) => self.upload(blobs, plan, &mut tell)?,
            // The timer is made inside the runtime, which it needs.
            Step::Pause(wait) => self.rt.block_on(async { tokio::time::sleep(wait).await }),
            Step::MarkSynced(visits) => {
                let at = self.agent.now_millis();
                for Synced { id, heads, photos_wait } in visits {
                    self.agent.store_mut().mark_synced(&id, &heads, at, photos_wait)?;
                }
            }
            Step::Renew => {
                let mut traffic = Traffic::default();
                let renewed = self.rt.block_on(post_renew(&self.http, &self.enrolment, &mut traffic));
                self.tally.other(traffic);
                let outcome = match renewed {
                    Ok(renewed) => {
                        // Stored before anything uses it: until its first use the
                        // server keeps the old one, so a phone that dies before
                        // this line still holds a credential that works.
                        self.agent.store_mut().set_settings(&[
                            (SETTING_TOKEN, &renewed.token),
                            (SETTING_EXPIRES_AT, &renewed.expires_at.to_string()),
                        ])?;
                        self.enrolment.token = renewed.token;
                        Ok(())
                    }
                    Err(error) => Err(error),
                };
                tell(plan, Observation::Renewed { outcome });
            }
            Step::Finish(_) => {}
        }
        self.record_usage()
    }

    /// Adds what was counted since the last time to the store.
    pub(super) fn record_usage(&mut self) -> Result<(), AgentError> {
        let counted = self.tally.take();
        if !counted.is_empty() {
            self.agent.store_mut().add_data_usage(&counted)?;
        }
        Ok(())
    }

    /// Builds each push from the store and sends them, many to a request.
    fn push(
        &mut self,
        pushes: Vec<Push>,
        plan: &mut Planner,
        tell: &mut dyn FnMut(&mut Planner, Observation),
    ) -> Result<(), AgentError> {
        let mut built = Vec::with_capacity(pushes.len());
        for Push { id, body } in pushes {
            match body {
                PushBody::Whole => {
                    // A visit that does not compact goes as stored: the
                    // server refuses it alone if it is damaged.
                    let store = self.agent.store();
                    let bytes = match store.visit_saved_whole(&id) {
                        Ok(bytes) => bytes,
                        Err(_) => store.visit_bytes(&id)?,
                    };
                    built.push(PushedVisit { id, base: Vec::new(), bytes: bytes.into() });
                }
                PushBody::ChangesSince(base) => {
                    let changes =
                        self.agent.store().load_visit(&id).ok().and_then(|mut doc| doc.changes_since(&base));
                    match changes {
                        Some(bytes) => built.push(PushedVisit { id, base, bytes: bytes.into() }),
                        None => tell(plan, Observation::CannotPush { id }),
                    }
                }
            }
        }
        for batch in push_batches(built) {
            let sent: Vec<String> = batch.iter().map(|v| v.id.clone()).collect();
            // The body by each visit's bytes in it, the answer evenly.
            let by_size: Vec<(String, u64)> =
                batch.iter().map(|v| (v.id.clone(), v.bytes.len() as u64)).collect();
            let evenly: Vec<(String, u64)> = sent.iter().map(|id| (id.clone(), 1)).collect();
            let mut traffic = Traffic::default();
            let answer = self.rt.block_on(post_push(
                &self.http,
                &self.enrolment,
                PushRequest { visits: batch },
                &mut traffic,
            ));
            self.tally.share(&by_size, Traffic { sent: traffic.sent, received: 0 });
            self.tally.share(&evenly, Traffic { sent: 0, received: traffic.received });
            match answer {
                Ok(answer) => tell(plan, Observation::Pushed { sent, outcomes: answer.visits }),
                Err(error) => {
                    tell(plan, Observation::Failed(error));
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Exchanges visits over one samod session, merging what comes back.
    fn exchange(
        &mut self,
        visits: Vec<Exchange>,
        plan: &mut Planner,
        tell: &mut dyn FnMut(&mut Planner, Observation),
    ) -> Result<(), AgentError> {
        let mut seeds = Vec::new();
        for visit in visits.iter().filter(|v| v.seed) {
            seeds.push((visit.id.clone(), self.agent.store().visit_bytes(&visit.id)?));
        }
        let url = match ws_url(&self.enrolment.server) {
            Ok(url) => url,
            Err(error) => {
                tell(plan, Observation::Failed(error));
                return Ok(());
            }
        };
        let endpoint = Endpoint {
            url,
            token: self.enrolment.token.clone(),
            peer: self.enrolment.peer.clone(),
            headers: super::version_headers(),
            // The server serves a bounded number of sync connections at
            // once and the rest wait their turn before the handshake.
            connect_timeout: Duration::from_secs(60),
        };
        let session = match self.rt.block_on(Session::open_with(&endpoint, self.enrolment.tls.clone(), seeds))
        {
            Ok(session) => session,
            Err(error) => {
                tell(plan, Observation::Failed(link_error(error)));
                return Ok(());
            }
        };
        let pulled: Vec<(String, u64)> = visits.iter().map(|v| (v.id.clone(), 1)).collect();
        {
            let visits = visits.into_iter().map(|v| (v.id, v.heads)).collect();
            let mut results = std::pin::pin!(session.sync_many(visits, VISIT_DEADLINE));
            while let Some((id, result)) = self.rt.block_on(results.next()) {
                match result {
                    Ok(synced) => {
                        // None: the server had nothing this phone lacks.
                        if let Some(bytes) = &synced.bytes {
                            let at = self.agent.now_millis();
                            self.agent.store_mut().merge_remote(&id, bytes, at)?;
                            self.agent.forget_cached(&id);
                        }
                        tell(plan, Observation::Exchanged { id, outcome: Ok(()) });
                    }
                    Err(error) => {
                        tell(plan, Observation::Exchanged { id, outcome: Err(link_error(error)) });
                        if !session.is_connected() {
                            break;
                        }
                    }
                }
            }
        }
        let traffic = session.traffic();
        self.rt.block_on(session.close());
        // samod multiplexes the visits on one socket: each pays evenly.
        self.tally.share(&pulled, Traffic { sent: traffic.sent, received: traffic.received });
        Ok(())
    }

    /// Uploads blobs at once, recording each the server verified.
    fn upload(
        &mut self,
        blobs: Vec<Upload>,
        plan: &mut Planner,
        tell: &mut dyn FnMut(&mut Planner, Observation),
    ) -> Result<(), AgentError> {
        let mut loaded = Vec::with_capacity(blobs.len());
        for Upload { sha256, size } in blobs {
            match self.agent.blobs().get(&sha256) {
                Ok(bytes) => {
                    let at = self.agent.now_millis();
                    let resumed = self.agent.store_mut().blob_upload_starting(&sha256, size, at)?;
                    loaded.push((sha256, bytes, resumed));
                }
                Err(e) => {
                    tell(plan, Observation::Failed(SyncError::Interrupted(e.to_string())));
                    return Ok(());
                }
            }
        }
        let (http, enrolment) = (&self.http, &self.enrolment);
        let results = self.rt.block_on(futures::future::join_all(loaded.iter().map(
            |(sha, bytes, resumed)| async move {
                let mut traffic = Traffic::default();
                let outcome = upload_blob(http, enrolment, sha, bytes, *resumed, &mut traffic).await;
                (outcome, traffic)
            },
        )));
        for ((sha256, _, _), (outcome, traffic)) in loaded.into_iter().zip(results) {
            let visits: Vec<(String, u64)> = self
                .blob_visits
                .get(&sha256)
                .map(|visits| visits.iter().map(|id| (id.clone(), 1)).collect())
                .unwrap_or_default();
            self.tally.share(&visits, traffic);
            if let Ok(sent) = outcome {
                let at = self.agent.now_millis();
                self.agent.store_mut().mark_blob_confirmed(&sha256, sent, at)?;
            }
            tell(plan, Observation::Uploaded { sha256, outcome });
        }
        Ok(())
    }
}

/// Uploads one blob, counting what goes and comes into `traffic`. Most
/// blobs are new to the server, so the whole blob goes at once; one whose
/// upload started before (`resumed`: a kill or a lost signal may have cut
/// it) first asks the server how much it holds, and so does one the server
/// refuses because it holds part of it; the upload then resumes where the
/// plan says.
async fn upload_blob(
    http: &reqwest::Client,
    enrolment: &Enrolment,
    sha: &str,
    bytes: &[u8],
    resumed: bool,
    traffic: &mut Traffic,
) -> Result<u64, SyncError> {
    let url = enrolment.api(&format!("api/v1/blobs/{sha}"))?;
    let put = |offset: u64| {
        http.put(format!("{url}?offset={offset}"))
            .bearer_auth(&enrolment.token)
            .header("x-blob-size", bytes.len().to_string())
    };
    if !resumed {
        let (status, answer) = counted(put(0), bytes.to_vec(), traffic).await?;
        match status {
            201 => return Ok(bytes.len() as u64),
            409 => {}
            _ => return Err(refusal(status, &serde_json::from_slice(&answer).unwrap_or_default())),
        }
    }
    let status = http.get(format!("{url}/status")).bearer_auth(&enrolment.token);
    let status: serde_json::Value = serde_json::from_slice(&counted_ok(status, Vec::new(), traffic).await?)
        .map_err(|e| {
        SyncError::Interrupted(format!("the server's answer about a photo is unreadable: {e}"))
    })?;
    let complete = status["complete"].as_bool() == Some(true);
    let received = status["received"].as_u64().unwrap_or(0);
    let offset = match plan::resume(complete, received, bytes.len() as u64) {
        plan::Resume::Stored => return Ok(bytes.len() as u64),
        plan::Resume::From(offset) => offset,
    };
    let rest = bytes[usize::try_from(offset).unwrap_or(bytes.len())..].to_vec();
    let (status, answer) = counted(put(offset), rest, traffic).await?;
    if status != 201 {
        return Err(refusal(status, &serde_json::from_slice(&answer).unwrap_or_default()));
    }
    Ok(bytes.len() as u64)
}

/// Sends `request` with `body` and reads its whole answer, counting both
/// into `traffic`: the body once the request connected (cut after that,
/// part of it may not have gone; one that never connected sent nothing),
/// the answer as read. Returns the status and the answer's body.
async fn counted(
    request: reqwest::RequestBuilder,
    body: Vec<u8>,
    traffic: &mut Traffic,
) -> Result<(u16, Vec<u8>), SyncError> {
    let size = body.len() as u64;
    let response = match request.body(body).send().await {
        Ok(response) => response,
        Err(error) => {
            if !error.is_connect() {
                traffic.sent += size;
            }
            return Err(http_error(error));
        }
    };
    traffic.sent += size;
    let status = response.status().as_u16();
    let answer = response.bytes().await.map_err(http_error)?;
    traffic.received += answer.len() as u64;
    Ok((status, answer.to_vec()))
}

/// [`counted`], with an answer other than a success as the server's refusal.
async fn counted_ok(
    request: reqwest::RequestBuilder,
    body: Vec<u8>,
    traffic: &mut Traffic,
) -> Result<Vec<u8>, SyncError> {
    let (status, answer) = counted(request, body, traffic).await?;
    if !(200..300).contains(&status) {
        return Err(refusal(status, &serde_json::from_slice(&answer).unwrap_or_default()));
    }
    Ok(answer)
}

/// A JSON request's body.
fn json_body(body: &impl serde::Serialize) -> Result<Vec<u8>, SyncError> {
    serde_json::to_vec(body).map_err(|e| SyncError::Interrupted(format!("cannot write a request: {e}")))
}

/// A JSON answer of the server's.
fn json_answer<T: serde::de::DeserializeOwned>(answer: &[u8], what: &str) -> Result<T, SyncError> {
    serde_json::from_slice(answer)
        .map_err(|e| SyncError::Interrupted(format!("the server's answer to {what} is unreadable: {e}")))
}

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
    traffic: &mut Traffic,
) -> Result<PushResponse, SyncError> {
    let post = http
        .post(enrolment.api("api/v1/sync/push")?)
        .bearer_auth(&enrolment.token)
        .header(reqwest::header::CONTENT_TYPE, PUSH_MEDIA_TYPE);
    let answer = counted_ok(post, encode_cbor(&request), traffic).await?;
    decode_cbor(&answer)
        .map_err(|e| SyncError::Interrupted(format!("the server's answer to a push is unreadable: {e}")))
}

async fn post_renew(
    http: &reqwest::Client,
    enrolment: &Enrolment,
    traffic: &mut Traffic,
) -> Result<RenewResponse, SyncError> {
    let post = http.post(enrolment.api("api/v1/sync/renew")?).bearer_auth(&enrolment.token);
    json_answer(&counted_ok(post, Vec::new(), traffic).await?, "a renewal")
}

async fn post_manifest(
    http: &reqwest::Client,
    enrolment: &Enrolment,
    ours: &str,
    uploads_pending: bool,
    traffic: &mut Traffic,
) -> Result<ManifestResponse, SyncError> {
    let post = http
        .post(enrolment.api("api/v1/sync/manifest")?)
        .bearer_auth(&enrolment.token)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    let body = json_body(&ManifestRequest { digest: ours.to_owned(), uploads_pending })?;
    json_answer(&counted_ok(post, body, traffic).await?, "the manifest")
}

fn ws_url(server: &url::Url) -> Result<url::Url, SyncError> {
    let mut url = server.join("api/v1/sync/ws").map_err(|_| SyncError::BadServer(server.to_string()))?;
    let scheme = if server.scheme() == "https" { "wss" } else { "ws" };
    url.set_scheme(scheme).map_err(|_| SyncError::BadServer(server.to_string()))?;
    Ok(url)
}

pub(super) fn link_error(e: posfield_sync_link_client::LinkError) -> SyncError {
    use posfield_sync_link_client::LinkError;
    match e {
        // The upgrade's answer carries no body here; the manifest before it
        // would have said the minimum.
        LinkError::Refused(426) => SyncError::AppTooOld { minimum: None },
        LinkError::Refused(status) => SyncError::Refused {
            status,
            code: "sync_refused".into(),
            message: "the server refused the sync connection".into(),
        },
        LinkError::Unreachable(why) => SyncError::Offline(why),
        LinkError::Certificate(problem) => super::certificate_error(problem),
        other => SyncError::Interrupted(other.to_string()),
    }
}
