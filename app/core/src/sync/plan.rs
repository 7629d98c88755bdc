//! The sync plan: what one sync pushes, exchanges through samod, uploads and
//! marks synced, decided from the phone's state and the server's answers,
//! with no I/O, no clock and nothing asynchronous.
//!
//! [`Planner`] is a state machine in the sans-IO style of samod-core:
//! [`Planner::next_step`] names the [`Step`] to carry out, the executor
//! (`sync::execute`) carries it out over HTTP, the websocket and the store,
//! and hands back what it saw with [`Planner::observe`]. The same planner
//! drives the phone and the models of the property test in `convergence`,
//! which drops, repeats, delays and cuts every exchange.
//!
//! The rules, in the order a sync meets them:
//! 1. Each round starts with the manifest: the digest of the phone's heads,
//!    saying whether uploads are pending (the server lists the blobs it
//!    lacks only when none are). At most [`MAX_ROUNDS`] rounds.
//! 2. When the digests differ, only the visits whose heads differ move. A
//!    visit the server lacks is pushed whole; one the server has an older
//!    state of is pushed as the changes since the server's heads; one where
//!    the server holds changes the phone lacks (the phone does not hold the
//!    server's heads, or does not hold the visit) is pulled through samod,
//!    which only brings the server's changes in: the server shares visits
//!    read-only and stores a phone's changes only from a push, where it
//!    checks them. The phone's own changes to a pulled visit go up in a
//!    push of the next round, whose manifest shows the phone holding the
//!    server's heads; so a visit changed on both sides takes two rounds. A
//!    visit the server refused in a push is not sent again in the same
//!    sync.
//! 3. When the digests agree, the blobs the waiting visits refer to that the
//!    server has not confirmed go up, [`CONCURRENT_BLOBS`] at a time, then
//!    any the server names as missing that this sync has not sent yet; once
//!    the uploads pending at the manifest are through, the server is asked
//!    again for the blobs it lacks.
//! 4. Visits are marked synced, at the heads the server agreed with, only
//!    when the manifest agrees and no blob failed.
//! 5. A credential the manifest says has less than [`RENEW_WITHIN_SECS`]
//!    left is renewed once, right after that manifest, before anything else
//!    goes; a renewal that fails for want of a network leaves the old
//!    credential, which the next sync renews, and one refused because the
//!    device was revoked or the app is too old ends the sync.
//! 6. When the photos wait for Wi-Fi ([`PhoneState::photos_wait`]: the
//!    agent chose "photos on Wi-Fi only" and the phone is on mobile data),
//!    the documents go as always and no blob goes up: every manifest says
//!    uploads are pending, so the server lists none as missing, and a visit
//!    that refers to a held blob is marked as confirmed for its document
//!    only, staying unsynced. The sync then succeeds, reporting the blobs
//!    held. A server asking for a wipe lifts the hold at once: the phone
//!    is no longer the agent's, and its evidence goes on any network.
//!
//! A lost connection or a refused credential ends the sync at once; a visit
//! or a blob the server refuses is reported and the rest goes on. Every step
//! is idempotent, so a sync cut anywhere starts over from the store.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use posfield_shared::protocol::{ManifestResponse, PushOutcome};

use super::{Phase, Progress, PutBack, SyncError, SyncReport};

#[cfg(test)]
mod convergence;
#[cfg(test)]
mod tests;

/// How many manifest rounds one sync may take before it reports what is left.
pub const MAX_ROUNDS: usize = 5;

/// Photos uploaded at once: enough to hide the round trips on a slow link,
/// few enough to hold only a few photos in memory.
pub const CONCURRENT_BLOBS: usize = 4;

/// How long to wait before asking again when the manifests differ but no
/// visit does: the server's projection lags its documents by a moment.
pub const PROJECTION_LAG: Duration = Duration::from_millis(200);

/// A credential with fewer seconds than this left (by the server's clock)
/// is renewed during a sync: a month, so a phone that syncs once a few
/// weeks renews long before its credential lapses.
pub const RENEW_WITHIN_SECS: i64 = 30 * 24 * 3600;

/// What the phone holds when a sync starts, read from its store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhoneState {
    /// The visits waiting to sync (changes the server has not confirmed),
    /// each with the blobs it refers to.
    pub waiting: BTreeMap<String, BTreeSet<String>>,
    /// Blobs the server has confirmed it holds whole.
    pub confirmed: BTreeSet<String>,
    /// Blobs the phone holds, with their sizes in bytes.
    pub held: BTreeMap<String, u64>,
    /// The photos wait for Wi-Fi: the documents go, the blobs stay.
    pub photos_wait: bool,
}

/// One thing for the executor to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Read every visit's heads and send their digest to the manifest.
    /// Answer with [`Observation::Manifest`].
    Manifest {
        /// Whether blobs of this sync are still to go up.
        uploads_pending: bool,
    },
    /// Push these visits, in as many requests as their size needs. Answer
    /// each request with [`Observation::Pushed`] and each visit that cannot
    /// be built with [`Observation::CannotPush`].
    Push(Vec<Push>),
    /// Pull these visits over one samod session, merging what comes back
    /// into the store (the server takes nothing from it). Answer each with
    /// [`Observation::Exchanged`].
    Exchange(Vec<Exchange>),
    /// Upload these blobs at once. Answer each with [`Observation::Uploaded`].
    Upload(Vec<Upload>),
    /// Wait, then carry on.
    Pause(Duration),
    /// Record these visits as confirmed by the server at these heads.
    MarkSynced(Vec<Synced>),
    /// Ask the server for a new credential and store it before anything
    /// uses it. Answer with [`Observation::Renewed`].
    Renew,
    /// The sync is over, with this outcome.
    Finish(Result<SyncReport, SyncError>),
}

/// A visit to push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// Visit id.
    pub id: String,
    /// What of it to send.
    pub body: PushBody,
}

/// What a push of one visit carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushBody {
    /// The whole saved document: the server does not have the visit.
    Whole,
    /// The changes since these heads of the server's (sorted hex).
    ChangesSince(Vec<String>),
}

/// A visit to exchange through samod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// Visit id.
    pub id: String,
    /// The phone's heads (sorted hex); empty when the phone lacks the visit.
    pub heads: Vec<String>,
    /// Whether the phone holds the visit, to seed the session with.
    pub seed: bool,
}

/// A blob to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// SHA-256, lowercase hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// A visit the server holds as the phone does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synced {
    /// Visit id.
    pub id: String,
    /// The heads both sides hold.
    pub heads: Vec<String>,
    /// Only the document: blobs it refers to wait for Wi-Fi, and the visit
    /// stays unsynced until they are up.
    pub photos_wait: bool,
}

/// What the executor saw while carrying out a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// The server answered a manifest.
    Manifest {
        /// Every visit's heads (sorted, comma separated) as sent in the digest.
        phone: BTreeMap<String, String>,
        /// The server's answer.
        answer: ManifestResponse,
        /// The sizes of the blobs the answer lists as missing that the phone holds.
        held: BTreeMap<String, u64>,
    },
    /// The phone lacks the heads a push of this visit would build on: the
    /// server holds changes the phone has not seen.
    CannotPush {
        /// Visit id.
        id: String,
    },
    /// The server answered a push request.
    Pushed {
        /// The visits the request carried.
        sent: Vec<String>,
        /// The server's outcomes.
        outcomes: Vec<PushOutcome>,
    },
    /// One visit's exchange ended: merged into the store, or failed.
    Exchanged {
        /// Visit id.
        id: String,
        /// What became of it.
        outcome: Result<(), SyncError>,
    },
    /// One blob's upload ended: verified by the server (the bytes it holds),
    /// or failed.
    Uploaded {
        /// SHA-256 of the blob.
        sha256: String,
        /// What became of it.
        outcome: Result<u64, SyncError>,
    },
    /// The renewal ended: the new credential stored, or not.
    Renewed {
        /// What became of it.
        outcome: Result<(), SyncError>,
    },
    /// The step could not be carried out (the server was unreachable,
    /// refused the request or its answer was unreadable).
    Failed(SyncError),
}

/// Where the credential's renewal stands in this sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Renewal {
    /// No manifest said it is due.
    NotDue,
    /// A manifest said so; asked next.
    Due,
    /// Asked (once a sync is enough).
    Asked,
}

/// Where a resumed upload starts, from the server's status of the blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// The server holds the blob whole and verified: nothing to send.
    Stored,
    /// Send from this byte on.
    From(u64),
}

/// Where to resume the upload of a `size`-byte blob of which the server
/// holds `received` bytes (`complete` when it holds it whole): never past
/// the end, so a server claiming more than the blob has gets the last byte
/// range refused rather than an empty body taken for the whole.
pub fn resume(complete: bool, received: u64, size: u64) -> Resume {
    if complete { Resume::Stored } else { Resume::From(received.min(size)) }
}

/// Where the plan stands.
#[derive(Debug)]
enum Stage {
    /// A new round begins with the manifest.
    StartRound,
    /// The manifest was asked; its answer decides the round.
    AwaitManifest { uploads_pending: bool },
    /// The documents of this round are decided, not yet sent.
    Documents { pushes: Vec<Push>, exchange: BTreeSet<String> },
    /// The pushes are out; visits that could not be pushed join the exchange.
    Pushing { exchange: BTreeSet<String> },
    /// The samod session is out; a failed visit ends the sync.
    Exchanging { failure: Option<SyncError> },
    /// Blobs going up, a batch at a time.
    Uploading { queue: VecDeque<Upload>, end: Option<SyncError>, ask_again: bool },
    /// Waiting out the server's projection.
    Pause,
    /// Nothing more to send this sync: the outcome follows.
    Ending,
    /// Over.
    Finish(Result<SyncReport, SyncError>),
}

/// One sync's decisions. See the module's documentation for the rules.
#[derive(Debug)]
pub struct Planner {
    stage: Stage,
    /// Rounds begun.
    round: usize,
    /// Blobs of the waiting visits, sent once their documents agree.
    unsent: Vec<Upload>,
    /// Blobs of the waiting visits held on the phone for Wi-Fi.
    for_wifi: Vec<Upload>,
    /// The visits that refer to a blob held for Wi-Fi.
    visits_for_wifi: BTreeSet<String>,
    /// Blobs this sync has sent or tried to send.
    attempted: BTreeSet<String>,
    /// Blobs the phone holds, with their sizes.
    held: BTreeMap<String, u64>,
    /// Why each failed blob failed.
    blob_failures: Vec<String>,
    /// Visits the server refused in a push, with why.
    refusals: BTreeMap<String, String>,
    /// Visits counted in the report as synced: one pulled and then pushed
    /// counts once.
    counted: BTreeSet<String>,
    /// Visits still differing at the last manifest.
    left: usize,
    /// The phone's heads at the last manifest.
    phone: BTreeMap<String, String>,
    report: SyncReport,
    /// Counted over the whole sync, so the progress bar only moves forward.
    progress: Progress,
    /// Progress to report, oldest first.
    announced: Vec<Progress>,
    /// The credential's renewal.
    renewal: Renewal,
}

impl Planner {
    /// The plan of a sync starting from `phone`: the blobs the waiting
    /// visits refer to that the server has not confirmed and the phone
    /// holds go up once the documents agree.
    pub fn new(phone: &PhoneState) -> Planner {
        let wanted: BTreeSet<&String> = phone.waiting.values().flatten().collect();
        let mut unsent: Vec<Upload> = wanted
            .into_iter()
            .filter(|sha| !phone.confirmed.contains(*sha))
            .filter_map(|sha| phone.held.get(sha).map(|&size| Upload { sha256: sha.clone(), size }))
            .collect();
        let for_wifi = if phone.photos_wait { std::mem::take(&mut unsent) } else { Vec::new() };
        let visits_for_wifi = phone
            .waiting
            .iter()
            .filter(|(_, blobs)| for_wifi.iter().any(|upload| blobs.contains(&upload.sha256)))
            .map(|(id, _)| id.clone())
            .collect();
        let progress = Progress {
            phase: Phase::Manifest,
            docs_done: 0,
            docs_total: 0,
            bytes_done: 0,
            bytes_total: unsent.iter().map(|u| u.size).sum(),
        };
        Planner {
            stage: Stage::StartRound,
            round: 0,
            unsent,
            for_wifi,
            visits_for_wifi,
            attempted: BTreeSet::new(),
            held: phone.held.clone(),
            blob_failures: Vec::new(),
            refusals: BTreeMap::new(),
            counted: BTreeSet::new(),
            left: 0,
            phone: BTreeMap::new(),
            report: SyncReport::default(),
            progress,
            announced: Vec::new(),
            renewal: Renewal::NotDue,
        }
    }

    /// The progress reported since the last call, oldest first: the
    /// executor passes it on before it carries out the next step.
    pub fn progress(&mut self) -> Vec<Progress> {
        std::mem::take(&mut self.announced)
    }

    /// The next step, once everything the previous one brought was observed.
    /// After [`Step::Finish`] it stays finished.
    pub fn next_step(&mut self) -> Step {
        // The renewal goes before whatever the manifest decided, which waits.
        if self.renewal == Renewal::Due && !matches!(self.stage, Stage::Finish(_)) {
            self.renewal = Renewal::Asked;
            return Step::Renew;
        }
        match std::mem::replace(&mut self.stage, Stage::StartRound) {
            Stage::StartRound => self.start_round(),
            Stage::AwaitManifest { .. } => {
                self.finish(Err(SyncError::Interrupted("the manifest went unanswered".into())))
            }
            Stage::Documents { pushes, exchange } if pushes.is_empty() => self.exchange(exchange),
            Stage::Documents { pushes, exchange } => {
                self.stage = Stage::Pushing { exchange };
                Step::Push(pushes)
            }
            Stage::Pushing { exchange } => self.exchange(exchange),
            Stage::Exchanging { failure: Some(failure) } => self.finish(Err(failure)),
            Stage::Exchanging { failure: None } => self.start_round(),
            Stage::Uploading { end: Some(end), .. } => self.finish(Err(end)),
            Stage::Uploading { mut queue, end: None, ask_again } if !queue.is_empty() => {
                let batch: Vec<Upload> = queue.drain(..queue.len().min(CONCURRENT_BLOBS)).collect();
                self.stage = Stage::Uploading { queue, end: None, ask_again };
                Step::Upload(batch)
            }
            Stage::Uploading { ask_again, .. } => {
                if ask_again && self.blob_failures.is_empty() {
                    // Ask once more, for any blob the server lost.
                    self.left = self.phone.len();
                    self.start_round()
                } else {
                    self.conclude()
                }
            }
            Stage::Pause => {
                self.stage = Stage::StartRound;
                Step::Pause(PROJECTION_LAG)
            }
            Stage::Ending => self.after_rounds(),
            Stage::Finish(outcome) => self.finish(outcome),
        }
    }

    /// Takes in what the executor saw. An observation the current step
    /// cannot bring (an upload during the documents) is ignored.
    pub fn observe(&mut self, observation: Observation) {
        if let Observation::Renewed { outcome } = observation {
            match outcome {
                Ok(()) => self.report.credential_renewed = true,
                // Nothing else gets through either.
                Err(error) if error.needs_someone() => self.observe(Observation::Failed(error)),
                // The old credential still works; the next sync asks again.
                Err(_) => {}
            }
            return;
        }
        if let Observation::Failed(error) = observation {
            if !matches!(self.stage, Stage::Finish(_)) {
                self.stage = Stage::Finish(Err(error));
            }
            return;
        }
        match (&mut self.stage, observation) {
            (Stage::AwaitManifest { uploads_pending }, Observation::Manifest { phone, answer, held }) => {
                let uploads_pending = *uploads_pending;
                let expiring = answer.credential_expires_in.is_some_and(|left| left < RENEW_WITHIN_SECS);
                if expiring && self.renewal == Renewal::NotDue {
                    self.renewal = Renewal::Due;
                }
                self.held.extend(held);
                self.phone = phone;
                if answer.wipe && !self.for_wifi.is_empty() {
                    // The phone is to be wiped: its evidence goes now, on
                    // whatever network, before its keys do.
                    self.progress.bytes_total += self.for_wifi.iter().map(|u| u.size).sum::<u64>();
                    self.unsent.append(&mut self.for_wifi);
                    self.visits_for_wifi.clear();
                }
                if answer.in_sync {
                    self.documents_agree(uploads_pending, &answer.missing_blobs);
                } else {
                    self.documents_differ(&answer);
                }
            }
            (Stage::Pushing { exchange }, Observation::CannotPush { id }) => {
                exchange.insert(id);
            }
            (Stage::Pushing { .. }, Observation::Pushed { sent, outcomes }) => {
                for outcome in outcomes.into_iter().filter(|o| sent.contains(&o.id)) {
                    match outcome.refused {
                        None => {
                            self.count_synced(&outcome.id);
                            self.progress.docs_done += 1;
                            if !outcome.reverted.is_empty() {
                                let message = outcome.message.unwrap_or_else(|| {
                                    "后台已处理这次访问，您的部分修改未被接受。".to_owned()
                                });
                                let put_back =
                                    PutBack { visit: outcome.id, fields: outcome.reverted, message };
                                self.report.put_back.push(put_back);
                            }
                        }
                        Some(code) => {
                            let message = outcome.message.unwrap_or_default();
                            let reason = format!("visit {}: {message} ({code})", outcome.id);
                            self.refusals.insert(outcome.id, reason);
                        }
                    }
                }
                self.announce();
            }
            (Stage::Exchanging { failure }, Observation::Exchanged { id, outcome }) => {
                match outcome {
                    Ok(()) => {
                        if !self.phone.contains_key(&id) {
                            self.report.visits_received += 1;
                        }
                        self.count_synced(&id);
                        self.progress.docs_done += 1;
                    }
                    Err(error) => *failure = Some(error),
                }
                self.announce();
            }
            (Stage::Uploading { end, .. }, Observation::Uploaded { sha256, outcome }) => {
                match outcome {
                    Ok(sent) => {
                        self.report.blobs_uploaded += 1;
                        self.report.blob_bytes_sent += sent;
                    }
                    // Without the server nothing else can go up either.
                    Err(error) if matches!(error, SyncError::Offline(_)) || error.needs_someone() => {
                        end.get_or_insert(error);
                    }
                    Err(error) => {
                        let short = &sha256[..sha256.len().min(12)];
                        self.blob_failures.push(format!("photo {short}: {error}"));
                    }
                }
                self.progress.bytes_done = self.report.blob_bytes_sent;
                self.announce();
            }
            _ => {}
        }
    }

    /// Counts a visit as synced, once a sync.
    fn count_synced(&mut self, id: &str) {
        if self.counted.insert(id.to_owned()) {
            self.report.visits_synced += 1;
        }
    }

    fn announce(&mut self) {
        self.announced.push(self.progress);
    }

    fn start_round(&mut self) -> Step {
        if self.round == MAX_ROUNDS {
            return self.after_rounds();
        }
        self.round += 1;
        self.report.rounds = self.round;
        self.progress.phase = Phase::Manifest;
        self.announce();
        // Blobs held for Wi-Fi are pending too: the server need not list
        // what the phone will not send now.
        let uploads_pending = !self.unsent.is_empty() || !self.for_wifi.is_empty();
        self.stage = Stage::AwaitManifest { uploads_pending };
        Step::Manifest { uploads_pending }
    }

    /// The manifests agree: every document is on the server, so now the
    /// blobs they refer to, and any the server lacks though the phone had
    /// them confirmed (a server restored from an older backup; listed once
    /// the phone has nothing else to upload).
    fn documents_agree(&mut self, uploads_pending: bool, missing: &[String]) {
        let mut send = std::mem::take(&mut self.unsent);
        for sha in missing {
            let known = self.attempted.contains(sha) || send.iter().any(|u| &u.sha256 == sha);
            if let (false, Some(&size)) = (known, self.held.get(sha)) {
                self.progress.bytes_total += size;
                send.push(Upload { sha256: sha.clone(), size });
            }
        }
        self.attempted.extend(send.iter().map(|u| u.sha256.clone()));
        if send.is_empty() {
            self.stage = Stage::Uploading { queue: VecDeque::new(), end: None, ask_again: false };
            return;
        }
        self.progress.phase = Phase::Blobs;
        self.announce();
        self.stage = Stage::Uploading { queue: send.into(), end: None, ask_again: uploads_pending };
    }

    /// The manifests differ: decide how each differing visit travels.
    fn documents_differ(&mut self, answer: &ManifestResponse) {
        let server: BTreeMap<&str, &str> =
            answer.visits.iter().map(|v| (v.id.as_str(), v.heads.as_str())).collect();
        let differing: BTreeSet<String> = self
            .phone
            .iter()
            .filter(|(id, heads)| server.get(id.as_str()) != Some(&heads.as_str()))
            .map(|(id, _)| id.clone())
            .chain(server.keys().filter(|id| !self.phone.contains_key(**id)).map(|id| (*id).to_owned()))
            .collect();
        self.left = differing.len();
        // A visit the server refused in this sync is not sent again in it.
        let differing: Vec<String> =
            differing.into_iter().filter(|id| !self.refusals.contains_key(id)).collect();
        if differing.is_empty() {
            self.stage = if self.refusals.is_empty() { Stage::Pause } else { Stage::Ending };
            return;
        }
        // The visit documents first: a few kilobytes each, so on a weak
        // signal the back office sees the visits (as waiting for photos)
        // long before the megabytes of photos are through.
        self.progress.phase = Phase::Documents;
        self.progress.docs_total += differing.len();
        self.announce();
        // What only this phone has goes in pushes; the rest (the server
        // holds changes this phone lacks) is pulled through automerge's sync
        // protocol, and what this phone has of it goes in the next round.
        let mut pushes = Vec::new();
        let mut exchange = BTreeSet::new();
        for id in differing {
            match (self.phone.contains_key(&id), server.get(id.as_str())) {
                (true, None) => pushes.push(Push { id, body: PushBody::Whole }),
                (true, Some(theirs)) => {
                    pushes.push(Push { id, body: PushBody::ChangesSince(split_heads(theirs)) })
                }
                (false, _) => {
                    exchange.insert(id);
                }
            }
        }
        self.stage = Stage::Documents { pushes, exchange };
    }

    fn exchange(&mut self, exchange: BTreeSet<String>) -> Step {
        if exchange.is_empty() {
            return self.start_round();
        }
        let visits = exchange
            .into_iter()
            .map(|id| {
                let heads = self.phone.get(&id).map(|h| split_heads(h)).unwrap_or_default();
                let seed = self.phone.contains_key(&id);
                Exchange { id, heads, seed }
            })
            .collect();
        self.stage = Stage::Exchanging { failure: None };
        Step::Exchange(visits)
    }

    /// The documents agree and the uploads are over: the visits are synced
    /// unless a blob they refer to failed.
    fn conclude(&mut self) -> Step {
        self.report.already_in_sync = self.round == 1 && self.report.blobs_uploaded == 0;
        self.left = 0;
        if !self.blob_failures.is_empty() {
            // Not synced while a photo it refers to is missing on the server.
            return self.after_rounds();
        }
        // Each blob was verified by the server as it arrived.
        let synced = self
            .phone
            .iter()
            .map(|(id, heads)| Synced {
                id: id.clone(),
                heads: heads.split(',').map(str::to_owned).collect(),
                photos_wait: self.visits_for_wifi.contains(id),
            })
            .collect();
        self.stage = Stage::Ending;
        Step::MarkSynced(synced)
    }

    /// The sync is over: finished when nothing is left.
    fn after_rounds(&mut self) -> Step {
        if self.left > 0 || !self.blob_failures.is_empty() {
            let reasons = std::mem::take(&mut self.refusals)
                .into_values()
                .chain(self.blob_failures.iter().cloned())
                .collect();
            let unfinished =
                SyncError::Unfinished { visits: self.left, blobs: self.blob_failures.len(), reasons };
            return self.finish(Err(unfinished));
        }
        self.progress.phase = Phase::Done;
        self.announce();
        self.report.photos_waiting_for_wifi = self.for_wifi.len();
        self.report.visits_waiting_for_photos = self.visits_for_wifi.len();
        self.finish(Ok(self.report.clone()))
    }

    fn finish(&mut self, outcome: Result<SyncReport, SyncError>) -> Step {
        self.stage = Stage::Finish(outcome.clone());
        Step::Finish(outcome)
    }
}

/// Sorted heads from their joined form (empty for none).
pub fn split_heads(joined: &str) -> Vec<String> {
    let mut heads: Vec<String> = joined.split(',').filter(|h| !h.is_empty()).map(str::to_owned).collect();
    heads.sort();
    heads
}
