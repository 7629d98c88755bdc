//! Keeps the `visits` and `terminals` projections up to date from the visit
//! documents, restores back-office fields an agent's change altered, and
//! countersigns each acceptance that arrives.
//!
//! Projections and back-office edits of one server run one at a time (one
//! lock), so the trusted back-office fields never race an agent's change.
//! What is written goes through the [`Store`](crate::store::Store): a
//! document change that could not be stored fails the edit, and no
//! projection names heads the store does not hold.

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::{Signer, SigningKey};
use posfield_shared::visit::acceptance::{binding_message, device_signature_verifies};
use posfield_shared::visit::authority::{Field, OfficeFields, Receipt, Sender};
use posfield_shared::visit::outcome::Registered;
use posfield_shared::visit::{Ctx, DocError, Visit, VisitDoc, VisitError};
use posfield_shared::vocab::Term;
use posfield_shared::{Actor, BlobHash, Timestamp};

use crate::State;
use crate::clock::{now, now_millis};
use crate::store::{
    AuditEntry, Countersignature, OutboxMessage, PendingCountersignature, Principal, ProjectionRow,
    RegisterCause, RegisterNow, RegisterWrite, SigningDevice, StoreError,
};

/// The server's identity in visit histories.
pub fn server_actor() -> Actor {
    Actor::admin("posfield-server", "server")
}

/// The automerge actor id of the server's own changes before each server
/// node had its own, and the start of every node's ([`node_actor`]).
pub const SERVER_ACTOR_ID: &[u8] = b"posfield-server";

/// Random bytes a node adds to [`SERVER_ACTOR_ID`].
const NODE_ACTOR_RANDOM: usize = 8;

/// A new actor id for one server process: [`SERVER_ACTOR_ID`], `/` and
/// eight random bytes. Several nodes serving one store each write under
/// their own, as automerge requires of concurrent writers (two writing the
/// next change of one actor would make two changes of one sequence number).
pub fn node_actor() -> std::io::Result<Vec<u8>> {
    let mut random = [0u8; NODE_ACTOR_RANDOM];
    getrandom::fill(&mut random).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok([SERVER_ACTOR_ID, b"/", &random].concat())
}

/// Whether `actor` is a server's: the first server's actor or a node's.
pub fn is_server_actor(actor: &[u8]) -> bool {
    actor.starts_with(SERVER_ACTOR_ID)
}

/// Why a projection failed.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The sync repository failed.
    #[error(transparent)]
    Link(#[from] posfield_sync_link_server::LinkError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The document is not a readable visit.
    #[error("visit {id}: {reason}")]
    Document {
        /// Visit id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// A back-office action was refused by the visit's rules.
    #[error(transparent)]
    Visit(#[from] VisitError),
    /// No such visit (or none the principal reaches).
    #[error("no visit {0}")]
    NotFound(String),
}

/// Brings the projections of `ids` up to date with their documents, in one
/// database transaction. A visit that cannot be projected is logged and
/// left out; the others are written. `device` is the server's id of the
/// device whose sync connection brought the changes: an acceptance among
/// them is verified with its key alone.
pub async fn project_all(state: &State, ids: BTreeSet<String>, sender: Option<&Sender>) {
    if ids.is_empty() {
        return;
    }
    let _turns = match state.turns.visits(ids.iter().map(String::as_str)).await {
        Ok(turns) => turns,
        Err(error) => {
            tracing::error!(visits = ids.len(), %error, "projecting visits failed: no turn");
            return;
        }
    };
    let mut rows = Vec::with_capacity(ids.len());
    for id in &ids {
        match prepare(state, id, sender).await {
            Ok(Some(settled)) => rows.push(settled.row),
            Ok(None) => {}
            Err(error) => tracing::error!(visit = %id, %error, "projecting a visit failed"),
        }
    }
    if let Err(error) = write_rows(state, rows, Vec::new()).await {
        tracing::error!(visits = ids.len(), %error, "writing projections failed");
    }
}

/// Fills in, from their documents, the registered phone of the visits
/// projected before the projection kept it (migration V11), a batch at a
/// time until none is left; the rest of their rows is left as it is. Each
/// in the visit's turn, so a projection running at the same time is
/// not overwritten with an older phone. A visit whose document does not
/// load is recorded as having none, so every batch makes progress.
pub async fn fill_in_phones(state: &State) -> Result<usize, ProjectionError> {
    let mut filled = 0;
    loop {
        let ids = state.store.visits_without_projected_phone(500).await?;
        if ids.is_empty() {
            return Ok(filled);
        }
        for id in ids {
            let _turn = state.turns.visits([id.as_str()]).await?;
            let phone = match load_stored(state, &id).await {
                Ok(Some(Stored { loaded: Ok((_, visit)), .. })) => visit.merchant.phone,
                _ => None,
            };
            state.store.set_projected_phone(&id, phone.as_deref()).await?;
            filled += 1;
        }
    }
}

/// Brings the projection of visit `id` up to date with its document, which
/// the device with the server's id `device` brought, if one did.
pub async fn project(state: &State, id: &str, sender: Option<&Sender>) -> Result<(), ProjectionError> {
    let _turn = state.turns.visits([id]).await?;
    let rows: Vec<ProjectionRow> = prepare(state, id, sender).await?.into_iter().map(|s| s.row).collect();
    write_rows(state, rows, Vec::new()).await
}

/// Reads visit `id`'s document and works out its projection row, restoring
/// back-office fields an agent changed. `None` when the server does not
/// have the document or the projection already holds its heads. Called
/// in the visit's turn.
async fn prepare(
    state: &State,
    id: &str,
    sender: Option<&Sender>,
) -> Result<Option<Settled>, ProjectionError> {
    let Some(stored) = load_stored(state, id).await? else { return Ok(None) };
    settle(state, id, stored.loaded, sender).await
}

/// A visit's document as stored, loaded strictly.
pub(crate) struct Stored {
    /// The document and the typed visit, or why they could not be read.
    pub(crate) loaded: Result<(VisitDoc, Visit), DocError>,
    /// Whether chunks of it were set aside as damaged (now or before):
    /// what is loaded is its last good state.
    pub(crate) damaged: bool,
}

impl Stored {
    /// The document and visit, or the visit's refusal as an error.
    pub(crate) fn readable(self, id: &str) -> Result<(VisitDoc, Visit, bool), ProjectionError> {
        let damaged = self.damaged;
        self.loaded
            .map(|(doc, visit)| (doc, visit, damaged))
            .map_err(|e| ProjectionError::Document { id: id.to_owned(), reason: e.to_string() })
    }
}

/// Loads visit `id`'s stored chunks strictly, the one way every reader
/// does. A document that no longer loads (chunks stored before pushes were
/// checked whole) is quarantined: the chunks that still load together are
/// its last good state, the others are set aside with an audit row, and
/// it is marked damaged. `None` when the server does not have it.
pub(crate) async fn load_stored(state: &State, id: &str) -> Result<Option<Stored>, ProjectionError> {
    let prefix = posfield_sync_link_server::doc_id(id)?.to_string();
    let chunks = state
        .store
        .documents()
        .load_prefix(prefix)
        .await
        .map_err(posfield_sync_link_server::LinkError::from)?;
    if chunks.is_empty() {
        return Ok(None);
    }
    let (loaded, set_aside) = tokio::task::spawn_blocking(move || {
        let bytes: Vec<&[u8]> = chunks.iter().map(|(_, data)| data.as_slice()).collect();
        match load_visit(bytes.iter().copied()) {
            Err(
                error @ (DocError::Corrupt(_)
                | DocError::Undecodable(_)
                | DocError::MissingDependencies { .. }),
            ) => {
                let sound = VisitDoc::sound_chunks(&bytes);
                let loaded = load_visit(sound.iter().map(|&i| bytes[i]));
                let bad: Vec<String> =
                    (0..chunks.len()).filter(|i| !sound.contains(i)).map(|i| chunks[i].0.clone()).collect();
                // Only a last good state is worth setting the rest aside for.
                let bad = if loaded.is_ok() { bad } else { Vec::new() };
                (loaded.map_err(|_| error), Some(bad))
            }
            other => (other, None),
        }
    })
    .await
    .map_err(|_| StoreError::Cancelled)?;
    let mut damaged = false;
    if let Some(bad) = set_aside.filter(|bad| !bad.is_empty()) {
        let reason = "the chunks no longer load strictly with the rest of the document";
        let detail = format!("{} chunk(s) set aside: {}", bad.len(), bad.join(","));
        tracing::error!(visit = %id, %detail, "a stored visit was damaged; its last good state is kept");
        let entry = AuditEntry::new(Some(id), "server", "quarantined_damaged_chunks", &detail);
        state.store.quarantine_chunks(id, bad, reason, entry).await?;
        damaged = true;
    }
    let damaged = damaged || state.store.quarantined(id).await? > 0;
    Ok(Some(Stored { loaded, damaged }))
}

/// A visit document from its chunks, and the typed visit in it.
pub(crate) fn load_visit<'a>(
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<(VisitDoc, Visit), DocError> {
    VisitDoc::load_chunks(chunks).and_then(|d| d.visit().map(|v| (d, v)))
}

/// Works out the projection row of visit `id` from its loaded document
/// (refused when unreadable or another visit's), restoring back-office
/// fields an agent changed and, once approved, the sealed acceptance.
/// `device` is the server's id of the device that sent the document; a new
/// acceptance in it is verified with that device's key alone. `None` when
/// the projection already holds its heads. Called in the visit's turn.
pub(crate) async fn settle(
    state: &State,
    id: &str,
    loaded: Result<(VisitDoc, Visit), DocError>,
    sender: Option<&Sender>,
) -> Result<Option<Settled>, ProjectionError> {
    let device = sender.map(|s| s.device.as_str());
    let existing = state.store.projected(id).await?;
    let mut doc = match loaded {
        Ok((doc, visit)) if visit.id == id => (doc, visit),
        Ok((_, visit)) => {
            return refuse(state, id, format!("the document says it is visit {}", visit.id), sender).await;
        }
        Err(e) => return refuse(state, id, e.to_string(), sender).await,
    };
    let mut heads = doc.0.heads();
    heads.sort();
    if existing.as_ref().is_some_and(|known| known.heads == heads.join(",")) {
        return Ok(None);
    }
    let (owner, trusted) = match &existing {
        Some(known) => (
            known.owner.clone(),
            serde_json::from_str::<OfficeFields>(&known.office)
                .map_err(|e| ProjectionError::Document { id: id.to_owned(), reason: e.to_string() })?,
        ),
        None => {
            let owner = state.store.visit_owner(id).await?.unwrap_or_else(|| doc.1.assignment.agent.clone());
            let trusted = OfficeFields::first_seen(&doc.1, &owner);
            (owner, trusted)
        }
    };
    let forged = trusted.forged_by(&doc.1, sender);
    let mut visit = doc.1.clone();
    if !forged.is_empty() && doc.0.is_read_only() {
        // A newer app's document this server may not write into: it is
        // stored and synced unchanged, and the projection shows the trusted
        // back-office values instead of the ones the change claims.
        trusted.put_back_for(&mut visit, &forged, sender);
        let names: Vec<&str> = forged.iter().map(|f| f.code()).collect();
        tracing::warn!(visit = %id, %owner, fields = ?names, "a read-only document changed back-office fields; the projection keeps the trusted values");
        let entry =
            AuditEntry::new(Some(id), &owner, "kept_office_fields_of_read_only_visit", &names.join(","));
        state.store.audit(entry).await?;
    } else if !forged.is_empty() {
        doc.0.set_actor(&state.actor);
        visit = doc.0.restore_office_fields(&server_ctx(), &trusted, &forged, sender)?;
        let increment = doc.0.save_incremental();
        state.repo.merge(id, increment).await?;
        let names: Vec<&str> = forged.iter().map(|f| f.code()).collect();
        tracing::warn!(visit = %id, %owner, fields = ?names, "restored back-office fields an agent changed");
        let entry = AuditEntry::new(Some(id), &owner, "restored_office_fields", &names.join(","));
        state.store.audit(entry).await?;
    }
    let mut office = trusted.accept(&visit);
    let at = now_millis();
    office.receive(&trusted, &visit, |entry| match sender {
        Some(sender) if entry.stamp.by != server_actor() => {
            Receipt { by: sender.user.clone(), device: sender.device.clone(), at }
        }
        _ => server_receipt(at),
    });
    let heads = doc.0.heads();
    let row = projection_row(&visit, &owner, &office, &heads, &state.signing_key, device);
    Ok(Some(Settled { row, reverted: forged, status: visit.status }))
}

/// A visit settled: its projection row, and the fields of what arrived
/// that were put back (the sender is told of them in words).
pub(crate) struct Settled {
    /// The projection row to write.
    pub(crate) row: ProjectionRow,
    /// The fields put back, none when everything was taken.
    pub(crate) reverted: Vec<Field>,
    /// The visit's status after it.
    pub(crate) status: posfield_shared::VisitStatus,
}

impl Settled {
    /// What the agent is told of the fields put back, in its words, or
    /// `None` when nothing was.
    pub(crate) fn told(&self) -> Option<String> {
        if self.reverted.is_empty() {
            return None;
        }
        let fields: Vec<&str> = self.reverted.iter().map(|f| f.words()).collect();
        Some(format!(
            "这次访问（{}）在后台的状态不允许这些修改，已恢复为后台的记录：{}。",
            self.status.zh(),
            fields.join("、")
        ))
    }
}

/// Who sent each history entry of visit `id` and when it arrived, as the
/// server recorded it (empty for a visit it has not projected).
pub async fn receipts(
    state: &State,
    id: &str,
) -> Result<std::collections::BTreeMap<String, Receipt>, StoreError> {
    Ok(state
        .store
        .projected(id)
        .await?
        .and_then(|known| serde_json::from_str::<OfficeFields>(&known.office).ok())
        .map(|office| office.received)
        .unwrap_or_default())
}

/// The receipt of a history entry the server wrote itself.
fn server_receipt(at: i64) -> Receipt {
    Receipt { by: server_actor().user, device: server_actor().device, at }
}

/// The receipt of a history entry the desk wrote for `principal`.
fn desk_receipt(principal: &Principal, at: i64) -> Receipt {
    Receipt { by: principal.name().to_owned(), device: "back-office".into(), at }
}

/// Refuses an unreadable document with an audit row; a device's unreadable
/// pushes write a handful of rows a minute however many it sends
/// (`throttle::audits_refusal`), each later row with the count.
async fn refuse<T>(
    state: &State,
    id: &str,
    reason: String,
    sender: Option<&Sender>,
) -> Result<T, ProjectionError> {
    tracing::warn!(visit = %id, %reason, "a synced document is not a readable visit");
    let (actor, count) = match sender {
        Some(sender) => {
            let count = state.throttles.unreadable_per_device.take(&sender.device, now()).unwrap_or(u32::MAX);
            (sender.user.as_str(), count)
        }
        None => ("sync", 1),
    };
    if crate::throttle::audits_refusal(count) {
        let detail = if count > 3 {
            format!("{reason} (unreadable push {count} from this device this minute)")
        } else {
            reason.clone()
        };
        state.store.audit(AuditEntry::new(Some(id), actor, "unreadable_document", &detail)).await?;
    }
    Err(ProjectionError::Document { id: id.to_owned(), reason })
}

fn server_ctx() -> Ctx {
    Ctx::new(server_actor(), Timestamp(crate::clock::now_millis()), uuid::Uuid::now_v7().to_string())
}

/// Writes projection rows, their acceptances' countersignatures and the
/// audit entries of the decision that made them in one transaction.
pub(crate) async fn write_rows(
    state: &State,
    rows: Vec<ProjectionRow>,
    audit: Vec<AuditEntry>,
) -> Result<(), ProjectionError> {
    if rows.is_empty() && audit.is_empty() {
        return Ok(());
    }
    Ok(state.store.write_projections(rows, audit).await?)
}

/// A visit's projection row: what the store keeps of `visit`, owned by
/// `owner`, with its trusted back-office fields and document heads, and
/// its acceptance to countersign (once) with `signing_key`, when `device`
/// (the server's id of the device that sent it) says whose key verifies it.
pub fn projection_row(
    visit: &Visit,
    owner: &str,
    office: &OfficeFields,
    heads: &[String],
    signing_key: &SigningKey,
    device: Option<&str>,
) -> ProjectionRow {
    let mut heads = heads.to_vec();
    heads.sort();
    let sim = visit.sim.as_ref();
    ProjectionRow {
        id: visit.id.clone(),
        owner: owner.to_owned(),
        kind: visit.kind.code().to_owned(),
        status: visit.status.code().to_owned(),
        merchant: visit.merchant.name.clone(),
        merchant_number: visit.merchant.merchant_number.clone(),
        merchant_phone: visit.merchant.phone.clone(),
        serial: visit.terminal.as_ref().map(|t| t.serial.clone()),
        dispatched_serial: visit.expected_serials().into_iter().next(),
        assignee: visit.assignment.agent.clone(),
        created_by: visit.created.by.user.clone(),
        created_at: visit.created.at.seconds(),
        updated_at: visit.history.last().map(|h| h.stamp.at.seconds()).unwrap_or(visit.created.at.seconds()),
        heads,
        office: serde_json::to_string(office).unwrap_or_default(),
        blobs: referenced_blobs(visit),
        sim_iccid: sim.map(|s| s.current_iccid().to_owned()),
        sim_carrier: sim.map(|s| s.carrier.code().to_owned()),
        sim_expiry: sim.map(|s| s.current_expiry().to_string()),
        arrived_at: visit.trip.as_ref().and_then(|t| t.arrived.as_ref()).map(|a| a.stamp.at.seconds()),
        completed_at: visit
            .history
            .iter()
            .rev()
            .find(|h| h.action == "complete")
            .map(|h| h.stamp.at.seconds()),
        countersign: device.and_then(|device| countersign(visit, signing_key, device)),
        register: None,
        messages: Vec::new(),
    }
}

/// Every blob a visit refers to: document photos (fault evidence and
/// hand-over photos are among them) and the signatures' images and strokes
/// (the acceptance's, a backup waiver's).
/// A reference that is not a SHA-256 (stored before pushes were checked)
/// names no blob: it is left out, never asked for or followed.
pub fn referenced_blobs(visit: &Visit) -> BTreeSet<String> {
    let mut blobs: BTreeSet<String> = visit.current_documents().map(|d| d.sha256.clone()).collect();
    // A signature's strokes are evidence as its image is: kept as long as
    // the visit refers to them, never collected as unreferenced.
    if let Some(acceptance) = &visit.acceptance {
        blobs.insert(acceptance.signature.sha256.clone());
        blobs.insert(acceptance.strokes_sha256.clone());
    }
    if let Some(waiver) = &visit.backup_waiver {
        blobs.insert(waiver.signature.sha256.clone());
        blobs.insert(waiver.strokes_sha256.clone());
    }
    blobs.retain(|sha| BlobHash::parse(sha).is_ok());
    blobs
}

/// The countersignature of a visit's acceptance, made by the store the
/// first time it sees the acceptance: the device signature is verified
/// with the keys of `device` (the server's id of the device that sent it),
/// the one registered now or one a rotation replaced (an acceptance signed
/// offline before the rotation arrives after it), never with a key found by
/// the device id the phone chose or another device's, and the acceptance
/// must name that device and its agent: the device that signs an
/// acceptance is the device that pushed it. The key that verified it is
/// recorded. The server signs the same hashes and the arrival time.
fn countersign(visit: &Visit, key: &SigningKey, device: &str) -> Option<PendingCountersignature> {
    let acceptance = visit.acceptance.as_ref()?;
    let received = acceptance.clone();
    let (visit_id, key) = (visit.id.clone(), key.clone());
    let sign = move |signer: Option<&SigningDevice>| {
        let by = &received.stamp.by;
        let verified_by = signer
            .filter(|signer| signer.agent == by.user && signer.client_device_id == by.device)
            .and_then(|signer| {
                std::iter::once(&signer.public_key)
                    .chain(&signer.earlier_keys)
                    .find(|key| device_signature_verifies(&received, key))
                    .cloned()
            });
        let valid = verified_by.is_some();
        let device_id = by.device.clone();
        if !valid {
            tracing::warn!(visit = %visit_id, device = %device_id, signer = ?signer.map(|s| &s.id), "an acceptance arrived whose device signature does not verify with the key of the device that sent it");
        }
        let message =
            binding_message(&received.content_hash, &received.strokes_sha256, &received.signature.sha256);
        let received_at = now();
        let mut countersigned = message;
        countersigned.extend_from_slice(format!("received-at {received_at}\n").as_bytes());
        Countersignature {
            server_signature: hex::encode(key.sign(&countersigned).to_bytes()),
            server_public_key: crate::server_key::public_hex(&key),
            content_hash: received.content_hash,
            strokes_sha256: received.strokes_sha256,
            image_sha256: received.signature.sha256,
            device_id,
            device_signature_valid: valid,
            device_public_key: verified_by,
            received_at,
        }
    };
    Some(PendingCountersignature {
        content_hash: acceptance.content_hash.clone(),
        device_id: device.to_owned(),
        sign: Box::new(sign),
    })
}

/// A back-office action on a visit document, for a principal that reaches
/// the visit: applied by the server, the projection updated with the new
/// trusted back-office fields and `audit` written in the same transaction.
/// The desk's actions ([`crate::desk`]) are its callers.
pub async fn office_edit(
    state: &State,
    principal: &Principal,
    id: &str,
    audit: AuditEntry,
    edit: impl FnOnce(&mut VisitDoc) -> Result<Visit, VisitError>,
) -> Result<Visit, ProjectionError> {
    office_decide(state, principal, id, audit, |_| Vec::new(), |doc, _| Ok((edit(doc)?, None))).await
}

/// A back-office decision on a visit that may change the terminal
/// register and that the merchant may have to be told of: as
/// [`office_edit`], with `decide` given what the register holds of the
/// visit's terminals and which of its effects were written (read in the
/// register's turn and the visit's) and returning, with
/// the visit, the register's change; that change and what the merchant
/// must be told of the decided visit (`tell`, from [`crate::outbox`]) are
/// written in the same transaction as the projection row and `audit`. The
/// decision is made before anything is stored: a refusal stores nothing.
pub async fn office_decide(
    state: &State,
    principal: &Principal,
    id: &str,
    audit: AuditEntry,
    tell: impl FnOnce(&Visit) -> Vec<OutboxMessage>,
    decide: impl FnOnce(&mut VisitDoc, &RegisterNow) -> Result<(Visit, Option<RegisterWrite>), VisitError>,
) -> Result<Visit, ProjectionError> {
    posfield_sync_link_server::doc_id(id)?;
    if !state.store.reaches_visit(principal, id, false).await? {
        return Err(ProjectionError::NotFound(id.to_owned()));
    }
    let _register = state.turns.register().await;
    let _turn = state.turns.visits([id]).await?;
    let stored = load_stored(state, id).await?.ok_or_else(|| ProjectionError::NotFound(id.to_owned()))?;
    let (mut doc, before, _) = stored.readable(id)?;
    let serials: Vec<String> =
        [&before.terminal, &before.replacement].into_iter().flatten().map(|t| t.serial.clone()).collect();
    let mut register = RegisterNow { known: state.store.registered(&serials).await?, applied: Vec::new() };
    for cause in [RegisterCause::VisitApproved, RegisterCause::ApplicationApproved] {
        if state.store.register_applied(id, cause).await? {
            register.applied.push(cause);
        }
    }
    doc.set_actor(&state.actor);
    let (visit, register_write) = decide(&mut doc, &register)?;
    state.repo.merge(id, doc.save_incremental()).await?;
    let owner = state.store.visit_owner(id).await?.unwrap_or_else(|| visit.assignment.agent.clone());
    let before = match state.store.projected(id).await? {
        Some(known) => serde_json::from_str::<OfficeFields>(&known.office).ok(),
        None => None,
    };
    let mut office = OfficeFields::of(&visit);
    if let Some(before) = &before {
        office = office.keep_receipts(before);
        let at = now_millis();
        office.receive(before, &visit, |_| desk_receipt(principal, at));
    }
    let mut row = projection_row(&visit, &owner, &office, &doc.heads(), &state.signing_key, None);
    row.register = register_write;
    row.messages = tell(&visit);
    write_rows(state, vec![row], vec![audit]).await?;
    Ok(visit)
}

/// Creates a visit at the back office, assigned to an agent, with its
/// `audit` entry written with its projection. `device` is the server's id
/// of the enrolled device whose key signed the visit's acceptance, for a
/// visit that arrives signed (the demo fleet's); the desk's new visits have none.
pub async fn office_create(
    state: &State,
    visit_doc: &mut VisitDoc,
    audit: AuditEntry,
    device: Option<&str>,
) -> Result<Visit, ProjectionError> {
    office_create_deciding(state, visit_doc, audit, device, |_, _| None).await
}

/// [`office_create`] of a visit that arrives decided (the demo's approved
/// visits): `decide` gets what the register holds of its terminals and
/// may return the register's change, written with the projection row.
pub async fn office_create_deciding(
    state: &State,
    visit_doc: &mut VisitDoc,
    audit: AuditEntry,
    device: Option<&str>,
    decide: impl FnOnce(&Visit, &BTreeMap<String, Registered>) -> Option<RegisterWrite>,
) -> Result<Visit, ProjectionError> {
    let visit = visit_doc
        .visit()
        .map_err(|e| ProjectionError::Document { id: String::new(), reason: e.to_string() })?;
    let _register = state.turns.register().await;
    let _turn = state.turns.visits([visit.id.as_str()]).await?;
    state.repo.merge(&visit.id, visit_doc.save()).await?;
    let owner = visit.assignment.agent.clone();
    let mut office = OfficeFields::of(&visit);
    let at = now_millis();
    let creator = Receipt { by: audit.actor.clone(), device: "back-office".into(), at };
    office.received = visit.history.iter().map(|entry| (entry.id.clone(), creator.clone())).collect();
    let serials: Vec<String> =
        [&visit.terminal, &visit.replacement].into_iter().flatten().map(|t| t.serial.clone()).collect();
    let register = state.store.registered(&serials).await?;
    let mut row = projection_row(&visit, &owner, &office, &visit_doc.heads(), &state.signing_key, device);
    row.register = decide(&visit, &register);
    write_rows(state, vec![row], vec![audit]).await?;
    Ok(visit)
}
