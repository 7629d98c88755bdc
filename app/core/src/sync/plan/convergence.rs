//! Property: a phone and a server, modelled over real visit documents (blobs
//! as hashes and sizes), synced only through the planner while every
//! exchange may be dropped, answered and the answer lost, repeated, delayed
//! past later requests or cut part way, with the agent editing on the phone
//! and the back office on the server (between syncs and between the steps of
//! one) and the server restored from a backup that lacks some blobs, end,
//! after the first sync once the faults stop, with equal heads
//! for every visit, every blob a visit refers to whole on the server,
//! nothing the phone ever held lost, and every visit marked synced. Time
//! passes between syncs, so credentials near their expiry are renewed
//! through the same faults, and the server never refuses the credential
//! the phone holds.
//!
//! The server model follows the real one's rules: a push is stored per visit
//! or refused, changes on a base the server does not have are refused, a
//! cut push stores nothing, a blob upload appends at the offset the server
//! holds and answers 409 for any other, a cut upload keeps what arrived, and
//! a samod session only reads: it brings the server's changes to the phone
//! until its connection is cut, and the phone's changes never reach the
//! server through it (the server shares visits read-only, so they go up in
//! a push of a later round). A renewal
//! waits beside the credential and the renewals already waiting, and the
//! first one used becomes the credential.

use std::collections::{BTreeMap, BTreeSet};

use posfield_shared::protocol::{
    ManifestEntry, ManifestResponse, PushOutcome, PushedVisit, digest, join_heads,
};
use posfield_shared::visit::{BlobInfo, Ctx, MerchantInput, VisitDoc};
use posfield_shared::vocab::DocumentKind;
use posfield_shared::{Actor, Timestamp, VisitKind};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

use super::*;
use crate::sync::execute::referenced_blobs;

const AGENT: &str = "agent-li";

/// Syncs allowed, once the faults stop, until everything agrees: one, since
/// a sync's rounds push or pull every differing visit before the manifest
/// is asked again (a visit changed on both sides is pulled in one round and
/// pushed in the next, well within `MAX_ROUNDS`), and whatever the faults
/// left behind (a cut upload, a push whose answer was lost) is found again
/// from the manifest.
const SYNCS_AFTER_FAULTS: usize = 1;

/// A credential's lifetime, in seconds.
const YEAR: i64 = 365 * 24 * 3600;

/// Renewals that wait at once, as the server keeps them (its store's `RENEWALS_KEPT`).
const RENEWALS_KEPT: usize = 8;

/// What the network does to one exchange.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Deliver,
    /// The request never reaches the server.
    DropRequest,
    /// The server carries it out; the answer never reaches the phone.
    DropAnswer,
    /// The server carries it out twice; the phone sees the second answer.
    Duplicate,
    /// The request reaches the server only after the next one; the phone
    /// gives up waiting.
    Delay,
    /// The connection breaks part way through the body or the session.
    Cut(u8),
}

/// One exchange of a sync: its fault, and an edit made just before it (the
/// app edits while its background sync runs, the desk at any time).
#[derive(Debug, Clone, Copy)]
struct Hop {
    fault: Fault,
    edit: Option<Edit>,
}

/// An edit on one side: what and on which visit.
#[derive(Debug, Clone, Copy)]
enum Edit {
    Phone(u8, u8),
    Office(u8, u8),
}

#[derive(Debug, Clone)]
enum Event {
    /// An edit between syncs.
    Edit(Edit),
    /// A sync whose exchanges meet these hops in turn; the rest are delivered.
    Sync(Vec<Hop>),
    /// The server is restored from a backup older than some blobs: it
    /// loses those whose first hex digit is at most this one, which the
    /// phone believes it confirmed.
    RestoreBlobs(u8),
    /// Days pass: the credential nears its expiry (never past it: an expired
    /// credential is enrolled again, which is not what this test is about).
    Age(i64),
}

struct Phone {
    docs: BTreeMap<String, VisitDoc>,
    /// Visits with changes the server has not confirmed (`visits.unsynced`).
    waiting: BTreeSet<String>,
    confirmed: BTreeSet<String>,
    /// Blobs held: SHA-256 to size.
    blobs: BTreeMap<String, u64>,
    /// Every heads each visit had on the phone: all must survive.
    seen: Vec<(String, Vec<String>)>,
    /// The credential it sends.
    token: u64,
}

struct Server {
    docs: BTreeMap<String, VisitDoc>,
    /// Bytes received of each blob, and whether it is stored whole.
    blobs: BTreeMap<String, (u64, bool)>,
    credential: Credential,
}

/// The server's record of the phone's credential.
struct Credential {
    current: u64,
    /// Renewals waiting for their first use, oldest first.
    waiting: Vec<u64>,
    /// Seconds the current one has left.
    left: i64,
    /// Credentials issued so far.
    issued: u64,
}

/// A request held back by the network, with the credential it carries.
enum Late {
    Push(Vec<PushedVisit>, u64),
    Put { sha: String, offset: u64, total: u64, token: u64 },
    Renew(u64),
}

struct World {
    phone: Phone,
    server: Server,
    late: Vec<Late>,
    clock: i64,
    /// A credential the phone held that the server refused, if any.
    locked_out: Option<u64>,
}

/// What a blob PUT answers.
enum PutAnswer {
    Created,
    Conflict,
    Accepted,
}

impl World {
    fn new() -> World {
        let phone = Phone {
            docs: BTreeMap::new(),
            waiting: BTreeSet::new(),
            confirmed: BTreeSet::new(),
            blobs: BTreeMap::new(),
            seen: Vec::new(),
            token: 1,
        };
        let credential = Credential { current: 1, waiting: Vec::new(), left: YEAR, issued: 1 };
        let mut world = World {
            phone,
            server: Server { docs: BTreeMap::new(), blobs: BTreeMap::new(), credential },
            late: Vec::new(),
            clock: 1_795_000_000_000,
            locked_out: None,
        };
        world.phone_edit(0, 0);
        world
    }

    fn ctx(&mut self, actor: &Actor) -> Ctx {
        self.clock += 1000;
        Ctx::new(actor.clone(), Timestamp(self.clock), format!("op-{}", self.clock))
    }

    fn edit(&mut self, edit: Edit) {
        match edit {
            Edit::Phone(op, arg) => self.phone_edit(op, arg),
            Edit::Office(op, arg) => self.office_edit(op, arg),
        }
    }

    /// The agent edits: creates a visit, adds a note or attaches a photo.
    /// An edit the visit's rules refuse changes nothing.
    fn phone_edit(&mut self, op: u8, arg: u8) {
        let ctx = self.ctx(&Actor::agent(AGENT, "phone-li"));
        let ids: Vec<String> = self.phone.docs.keys().cloned().collect();
        if op.is_multiple_of(4) || ids.is_empty() {
            let id = format!("visit-{}", self.clock);
            let merchant = MerchantInput { name: format!("商户 {arg}"), ..Default::default() };
            let doc = VisitDoc::create_visit(&ctx, b"phone", &id, VisitKind::Repair, &merchant, AGENT)
                .expect("a new visit");
            self.phone.docs.insert(id.clone(), doc);
            self.phone_saved(&id);
            return;
        }
        let id = ids[arg as usize % ids.len()].clone();
        let doc = self.phone.docs.get_mut(&id).expect("a phone visit");
        let done = if op % 4 == 1 {
            doc.add_note(&ctx, &format!("note {arg}")).is_ok()
        } else {
            let sha = hex::encode(Sha256::digest(format!("photo {}", self.clock)));
            let blob = BlobInfo {
                sha256: sha.clone(),
                mime: "image/jpeg".into(),
                bytes: 1 + u64::from(arg) * 7,
                width: 4,
                height: 3,
            };
            let attached = doc.attach_document(&ctx, &blob, DocumentKind::PurchaseProof, ctx.at).is_ok();
            if attached {
                self.phone.blobs.insert(sha, blob.bytes);
            }
            attached
        };
        if done {
            self.phone_saved(&id);
        }
    }

    /// The store's bookkeeping of a saved visit: waiting, and its heads kept.
    fn phone_saved(&mut self, id: &str) {
        let heads = self.phone.docs.get_mut(id).expect("a phone visit").heads();
        self.phone.waiting.insert(id.to_owned());
        self.phone.seen.push((id.to_owned(), heads));
    }

    /// The back office edits: a note, an assignment, or a new visit for the agent.
    fn office_edit(&mut self, op: u8, arg: u8) {
        let ctx = self.ctx(&Actor::admin("chen", "office"));
        let ids: Vec<String> = self.server.docs.keys().cloned().collect();
        if op.is_multiple_of(3) || ids.is_empty() {
            let id = format!("visit-{}", self.clock);
            let merchant = MerchantInput { name: format!("派单 {arg}"), ..Default::default() };
            let doc = VisitDoc::create_visit(&ctx, b"office", &id, VisitKind::Inspection, &merchant, AGENT)
                .expect("a visit created at the desk");
            self.server.docs.insert(id, doc);
            return;
        }
        let id = &ids[arg as usize % ids.len()];
        let doc = self.server.docs.get_mut(id).expect("a server visit");
        doc.set_actor(b"office");
        let _ = if op % 3 == 1 {
            doc.add_note(&ctx, &format!("desk note {arg}"))
        } else {
            doc.assign(&ctx, AGENT)
        };
    }

    /// The server's `authenticate`: the credential, or a renewal waiting for
    /// its first use, which then becomes the credential and ends the others.
    /// A refused credential the phone holds now locks it out; one a late
    /// request carries is only refused.
    fn admit(&mut self, token: u64, held_now: bool) -> bool {
        let credential = &mut self.server.credential;
        if token == credential.current {
            return true;
        }
        if credential.waiting.contains(&token) {
            credential.current = token;
            credential.waiting.clear();
            credential.left = YEAR;
            return true;
        }
        if held_now {
            self.locked_out.get_or_insert(token);
        }
        false
    }

    /// The server's `renew`: a new credential waiting beside the others.
    fn renew(&mut self, token: u64, held_now: bool) -> Option<u64> {
        if !self.admit(token, held_now) {
            return None;
        }
        let credential = &mut self.server.credential;
        credential.issued += 1;
        credential.waiting.push(credential.issued);
        let excess = credential.waiting.len().saturating_sub(RENEWALS_KEPT);
        credential.waiting.drain(..excess);
        Some(credential.issued)
    }

    fn phone_state(&mut self) -> PhoneState {
        let mut state = PhoneState {
            confirmed: self.phone.confirmed.clone(),
            held: self.phone.blobs.clone(),
            ..PhoneState::default()
        };
        for id in &self.phone.waiting {
            let visit = self.phone.docs[id].visit().expect("a readable phone visit");
            state.waiting.insert(id.clone(), referenced_blobs(&visit));
        }
        state
    }

    fn phone_heads(&mut self) -> BTreeMap<String, String> {
        self.phone.docs.iter_mut().map(|(id, doc)| (id.clone(), join_heads(&doc.heads()))).collect()
    }

    /// The server's manifest, as `sync-server`'s `manifest` answers it.
    fn manifest(&mut self, ours: &str, uploads_pending: bool) -> ManifestResponse {
        let credential_expires_in = Some(self.server.credential.left);
        let visits: Vec<ManifestEntry> = self
            .server
            .docs
            .iter_mut()
            .map(|(id, doc)| ManifestEntry { id: id.clone(), heads: join_heads(&doc.heads()) })
            .collect();
        if digest(visits.iter().map(|v| (v.id.as_str(), v.heads.as_str()))) != ours {
            return ManifestResponse {
                in_sync: false,
                visits,
                missing_blobs: Vec::new(),
                credential_expires_in,
                personal_photo_days: None,
                wipe: false,
                rotate_device_key: false,
            };
        }
        let missing_blobs =
            if uploads_pending { Vec::new() } else { self.server_missing_blobs().into_iter().collect() };
        ManifestResponse {
            in_sync: true,
            visits: Vec::new(),
            missing_blobs,
            credential_expires_in,
            personal_photo_days: None,
            wipe: false,
            rotate_device_key: false,
        }
    }

    fn server_missing_blobs(&self) -> BTreeSet<String> {
        self.server
            .docs
            .values()
            .flat_map(|doc| referenced_blobs(&doc.visit().expect("a readable server visit")))
            .filter(|sha| !self.server.blobs.get(sha).is_some_and(|(_, whole)| *whole))
            .collect()
    }

    /// A push, as `sync-server`'s `push` stores it: per visit, refused or merged.
    fn push(&mut self, visits: &[PushedVisit]) -> Vec<PushOutcome> {
        let mut seen = BTreeSet::new();
        visits
            .iter()
            .map(|pushed| {
                if !seen.insert(pushed.id.clone()) {
                    return PushOutcome::refused(&pushed.id, "duplicate", "twice in one push");
                }
                let stored = self.server.docs.get_mut(&pushed.id).map(|doc| doc.save());
                if stored.is_none() && !pushed.base.is_empty() {
                    return PushOutcome::refused(&pushed.id, "unknown_base", "send the whole document");
                }
                let chunks = stored.iter().map(Vec::as_slice).chain([pushed.bytes.as_slice()]);
                match VisitDoc::load_chunks(chunks) {
                    Ok(mut doc) if doc.visit().is_ok_and(|v| v.id == pushed.id) => {
                        let heads = doc.heads();
                        self.server.docs.insert(pushed.id.clone(), doc);
                        PushOutcome::stored(&pushed.id, heads)
                    }
                    _ => PushOutcome::refused(&pushed.id, "unreadable", "not this visit"),
                }
            })
            .collect()
    }

    /// A blob PUT of `sent` bytes from `offset`, as `BlobDir::append` takes it.
    fn put(&mut self, sha: &str, offset: u64, total: u64, sent: u64) -> PutAnswer {
        let (received, whole) = self.server.blobs.get(sha).copied().unwrap_or((0, false));
        if whole {
            return PutAnswer::Created;
        }
        if offset != received {
            return PutAnswer::Conflict;
        }
        let received = offset + sent;
        let whole = received == total;
        self.server.blobs.insert(sha.to_owned(), (received, whole));
        if whole { PutAnswer::Created } else { PutAnswer::Accepted }
    }

    /// Delivers the requests the network held back. A held-back renewal
    /// arrives only after the phone's next renewal (`renewals`): the network
    /// can delay a request past later ones, and the renewal the phone stored
    /// must survive the stale one.
    fn deliver_late(&mut self, renewals: bool) {
        for late in std::mem::take(&mut self.late) {
            match late {
                Late::Push(visits, token) => {
                    if self.admit(token, false) {
                        self.push(&visits);
                    }
                }
                Late::Put { sha, offset, total, token } => {
                    if self.admit(token, false) {
                        self.put(&sha, offset, total, total - offset);
                    }
                }
                Late::Renew(token) if renewals => {
                    self.renew(token, false);
                }
                Late::Renew(token) => self.late.push(Late::Renew(token)),
            }
        }
    }

    /// The next hop of a sync: its fault, after the agent's edit.
    fn hop(&mut self, hops: &mut std::vec::IntoIter<Hop>) -> Fault {
        let hop = hops.next().unwrap_or(Hop { fault: Fault::Deliver, edit: None });
        if let Some(edit) = hop.edit {
            self.edit(edit);
        }
        hop.fault
    }

    /// One sync, carried out against the models exactly as `execute` does
    /// against the store and the server.
    fn sync(&mut self, hops: Vec<Hop>) -> Result<SyncReport, SyncError> {
        let mut hops = hops.into_iter();
        let mut plan = Planner::new(&self.phone_state());
        loop {
            match plan.next_step() {
                Step::Finish(outcome) => return outcome,
                Step::Manifest { uploads_pending } => {
                    let fault = self.hop(&mut hops);
                    let phone = self.phone_heads();
                    let ours = digest(phone.iter().map(|(id, heads)| (id.as_str(), heads.as_str())));
                    let token = self.phone.token;
                    let answer = self.request(
                        fault,
                        |world| world.admit(token, true).then(|| world.manifest(&ours, uploads_pending)),
                        None,
                    );
                    plan.observe(match answer {
                        Ok(Some(answer)) => {
                            let held = answer
                                .missing_blobs
                                .iter()
                                .filter_map(|sha| self.phone.blobs.get(sha).map(|size| (sha.clone(), *size)))
                                .collect();
                            Observation::Manifest { phone, answer, held }
                        }
                        Ok(None) | Err(_) => Observation::Failed(lost()),
                    });
                }
                Step::Push(pushes) => {
                    let mut built = Vec::new();
                    for Push { id, body } in pushes {
                        let doc = self.phone.docs.get_mut(&id).expect("a pushed visit is on the phone");
                        match body {
                            PushBody::Whole => {
                                built.push(PushedVisit { id, base: Vec::new(), bytes: doc.save().into() })
                            }
                            PushBody::ChangesSince(base) => match doc.changes_since(&base) {
                                Some(bytes) => built.push(PushedVisit { id, base, bytes: bytes.into() }),
                                None => plan.observe(Observation::CannotPush { id }),
                            },
                        }
                    }
                    if built.is_empty() {
                        continue;
                    }
                    let fault = self.hop(&mut hops);
                    let sent: Vec<String> = built.iter().map(|v| v.id.clone()).collect();
                    let (late, token) = (built.clone(), self.phone.token);
                    let push = |world: &mut World| world.admit(token, true).then(|| world.push(&built));
                    match self.request(fault, push, Some(Late::Push(late, token))) {
                        Ok(Some(outcomes)) => plan.observe(Observation::Pushed { sent, outcomes }),
                        Ok(None) | Err(_) => plan.observe(Observation::Failed(lost())),
                    }
                }
                Step::Exchange(visits) => {
                    let fault = self.hop(&mut hops);
                    self.exchange(&visits, fault, &mut plan);
                }
                Step::Upload(blobs) => {
                    for blob in blobs {
                        let outcome = self.upload(&blob, &mut hops);
                        if outcome.is_ok() {
                            self.phone.confirmed.insert(blob.sha256.clone());
                        }
                        plan.observe(Observation::Uploaded { sha256: blob.sha256, outcome });
                    }
                }
                Step::Pause(_) => {}
                Step::MarkSynced(visits) => {
                    // As the store does: a visit whose photos wait stays waiting.
                    for visit in visits.into_iter().filter(|visit| !visit.photos_wait) {
                        self.phone.waiting.remove(&visit.id);
                    }
                }
                Step::Renew => {
                    let fault = self.hop(&mut hops);
                    let token = self.phone.token;
                    let renewed =
                        self.request(fault, |world| world.renew(token, true), Some(Late::Renew(token)));
                    // Renewals held back since an earlier sync arrive after this one.
                    if !matches!(fault, Fault::Delay) {
                        self.deliver_late(true);
                    }
                    let outcome = match renewed {
                        // Stored before anything uses it, as the executor does.
                        Ok(Some(new)) => {
                            self.phone.token = new;
                            Ok(())
                        }
                        Ok(None) | Err(_) => Err(lost()),
                    };
                    plan.observe(Observation::Renewed { outcome });
                }
            }
        }
    }

    /// One request and its answer through `fault`: `apply` is what the
    /// server does with it, `late` the request as the network holds it back
    /// (none for a request that changes nothing).
    fn request<T>(
        &mut self,
        fault: Fault,
        mut apply: impl FnMut(&mut World) -> Option<T>,
        late: Option<Late>,
    ) -> Result<Option<T>, SyncError> {
        let held_back = std::mem::take(&mut self.late);
        let answer = match fault {
            Fault::Deliver => Ok(apply(self)),
            Fault::DropRequest | Fault::Cut(_) => Err(lost()),
            Fault::DropAnswer => {
                apply(self);
                Err(lost())
            }
            Fault::Duplicate => {
                apply(self);
                Ok(apply(self))
            }
            Fault::Delay => {
                self.late.extend(late);
                Err(lost())
            }
        };
        // What was held back arrives after this request.
        let newly_held = std::mem::replace(&mut self.late, held_back);
        self.late.extend(newly_held);
        if !matches!(fault, Fault::Delay) {
            self.deliver_late(false);
        }
        answer
    }

    /// A samod session, which only reads: each visit the server holds is
    /// merged into the phone, in order, until a cut. Nothing of the phone's
    /// reaches the server, whatever the fault.
    fn exchange(&mut self, visits: &[Exchange], fault: Fault, plan: &mut Planner) {
        let reached = !matches!(fault, Fault::DropRequest | Fault::Delay);
        if reached && !self.admit(self.phone.token, true) {
            plan.observe(Observation::Failed(lost()));
            return;
        }
        let (cut_at, server_only) = match fault {
            Fault::DropRequest | Fault::Delay => {
                plan.observe(Observation::Failed(lost()));
                return;
            }
            Fault::Deliver | Fault::Duplicate => (visits.len(), false),
            Fault::DropAnswer => (0, true),
            Fault::Cut(n) => (n as usize % visits.len(), false),
        };
        for (index, visit) in visits.iter().enumerate() {
            if index >= cut_at {
                let why = if server_only { "the answer was lost" } else { "the connection was cut" };
                let error = SyncError::Interrupted(why.into());
                plan.observe(Observation::Exchanged { id: visit.id.clone(), outcome: Err(error) });
                return;
            }
            let Some(doc) = self.server.docs.get_mut(&visit.id) else {
                // The session waits for a visit the server does not share
                // until its deadline.
                let error = SyncError::Interrupted(format!("visit {} is not on the server", visit.id));
                plan.observe(Observation::Exchanged { id: visit.id.clone(), outcome: Err(error) });
                return;
            };
            let bytes = doc.save();
            self.phone_merge(&visit.id, &bytes);
            plan.observe(Observation::Exchanged { id: visit.id.clone(), outcome: Ok(()) });
        }
    }

    /// The store's `merge_remote`: merged, saved, waiting.
    fn phone_merge(&mut self, id: &str, bytes: &[u8]) {
        let mut remote = VisitDoc::load(bytes).expect("the server's visit loads");
        match self.phone.docs.get_mut(id) {
            Some(doc) => doc.merge(&mut remote).expect("the phone merges the server's visit"),
            None => {
                remote.set_actor(b"phone");
                self.phone.docs.insert(id.to_owned(), remote);
            }
        }
        self.phone_saved(id);
    }

    /// `execute::upload_blob`: the whole blob at offset 0, and on a 409 the
    /// server's status and a resume where the plan says.
    fn upload(&mut self, blob: &Upload, hops: &mut std::vec::IntoIter<Hop>) -> Result<u64, SyncError> {
        let (sha, total) = (blob.sha256.clone(), blob.size);
        let first = self.put_through(&sha, 0, total, hops)?;
        match first {
            PutAnswer::Created => return Ok(total),
            PutAnswer::Conflict => {}
            PutAnswer::Accepted => return Err(refused_upload()),
        }
        let fault = self.hop(hops);
        let token = self.phone.token;
        let status = self.request(
            fault,
            |world| {
                world.admit(token, true).then(|| world.server.blobs.get(&sha).copied().unwrap_or((0, false)))
            },
            None,
        )?;
        let (received, whole) = status.ok_or_else(lost)?;
        let offset = match resume(whole, received, total) {
            Resume::Stored => return Ok(total),
            Resume::From(offset) => offset,
        };
        match self.put_through(&sha, offset, total, hops)? {
            PutAnswer::Created => Ok(total),
            PutAnswer::Conflict | PutAnswer::Accepted => Err(refused_upload()),
        }
    }

    /// One PUT through the next hop; a cut one leaves part of the body on the server.
    fn put_through(
        &mut self,
        sha: &str,
        offset: u64,
        total: u64,
        hops: &mut std::vec::IntoIter<Hop>,
    ) -> Result<PutAnswer, SyncError> {
        let fault = self.hop(hops);
        let token = self.phone.token;
        if let Fault::Cut(n) = fault {
            let body = total - offset;
            if self.admit(token, true) {
                self.put(sha, offset, total, u64::from(n) % body.max(1));
            }
            return Err(lost());
        }
        let late = Late::Put { sha: sha.to_owned(), offset, total, token };
        let put = |world: &mut World| {
            world.admit(token, true).then(|| world.put(sha, offset, total, total - offset))
        };
        self.request(fault, put, Some(late))?.ok_or_else(lost)
    }

    /// Everything agrees: the property's conclusion.
    fn assert_converged(&mut self) {
        let phone = self.phone_heads();
        let server: BTreeMap<String, String> =
            self.server.docs.iter_mut().map(|(id, doc)| (id.clone(), join_heads(&doc.heads()))).collect();
        assert_eq!(phone, server, "phone and server hold the same heads for every visit");
        let missing = self.server_missing_blobs();
        assert!(missing.is_empty(), "every blob a visit refers to is on the server: {missing:?} are not");
        for (id, heads) in &self.phone.seen {
            let on_phone = self.phone.docs.get_mut(id).is_some_and(|doc| doc.contains_heads(heads));
            let on_server = self.server.docs.get_mut(id).is_some_and(|doc| doc.contains_heads(heads));
            assert!(
                on_phone && on_server,
                "visit {id} at {heads:?} is lost (phone {on_phone}, server {on_server})"
            );
        }
        assert!(self.phone.waiting.is_empty(), "visits still waiting: {:?}", self.phone.waiting);
    }
}

fn lost() -> SyncError {
    SyncError::Offline("the connection was lost".into())
}

fn refused_upload() -> SyncError {
    SyncError::Refused { status: 409, code: "wrong_offset".into(), message: "resume elsewhere".into() }
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        8 => Just(Fault::Deliver),
        1 => Just(Fault::DropRequest),
        1 => Just(Fault::DropAnswer),
        1 => Just(Fault::Duplicate),
        1 => Just(Fault::Delay),
        1 => any::<u8>().prop_map(Fault::Cut),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<u8>(), any::<u8>()).prop_map(|(op, arg)| Edit::Phone(op, arg)),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(op, arg)| Edit::Office(op, arg)),
    ]
}

fn hop() -> impl Strategy<Value = Hop> {
    (fault(), proptest::option::weighted(0.1, edit())).prop_map(|(fault, edit)| Hop { fault, edit })
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        4 => edit().prop_map(Event::Edit),
        3 => proptest::collection::vec(hop(), 0..10).prop_map(Event::Sync),
        1 => (0u8..16).prop_map(Event::RestoreBlobs),
        1 => (300i64..400).prop_map(Event::Age),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn faulty_syncs_converge_once_the_faults_stop(events in proptest::collection::vec(event(), 1..14)) {
        let mut world = World::new();
        for event in events {
            match event {
                Event::Edit(edit) => world.edit(edit),
                Event::RestoreBlobs(digit) => {
                    world.server.blobs.retain(|sha, _| u8::from_str_radix(&sha[..1], 16).is_ok_and(|d| d > digit))
                }
                // A sync may fail: the faults are what this test is about.
                Event::Sync(hops) => {
                    let _ = world.sync(hops);
                }
                Event::Age(days) => {
                    let credential = &mut world.server.credential;
                    credential.left = (credential.left - days * 24 * 3600).max(24 * 3600);
                }
            }
        }
        let mut outcomes = Vec::new();
        for _ in 0..SYNCS_AFTER_FAULTS {
            let outcome = world.sync(Vec::new());
            let synced = outcome.is_ok();
            outcomes.push(outcome);
            if synced {
                break;
            }
        }
        prop_assert!(
            outcomes.last().is_some_and(Result::is_ok),
            "no sync succeeded within {SYNCS_AFTER_FAULTS} after the faults stopped: {outcomes:?}"
        );
        world.assert_converged();
        prop_assert_eq!(world.locked_out, None, "the server refused a credential the phone held");
        // Requests still held back by the network arrive late and change nothing.
        world.deliver_late(true);
        world.assert_converged();
        prop_assert!(world.admit(world.phone.token, true), "the phone's credential works after them");
    }
}
