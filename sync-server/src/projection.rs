//! Keeps the `visits` and `terminals` tables up to date from the visit
//! documents, restores back-office fields an agent's change altered, and
//! countersigns each acceptance that arrives.
//!
//! Projections and back-office edits of one server run one at a time (one
//! lock), so the trusted back-office fields never race an agent's change.

use std::collections::BTreeSet;

use ed25519_dalek::{Signer, SigningKey};
use posfield_shared::visit::acceptance::{binding_message, device_signature_verifies};
use posfield_shared::visit::authority::OfficeFields;
use posfield_shared::visit::{Ctx, DocError, Visit, VisitDoc, VisitError};
use posfield_shared::vocab::Term;
use posfield_shared::{Actor, Timestamp};
use rusqlite::{OptionalExtension, params};

use crate::State;
use crate::db::{Db, now};

/// The server's identity in visit histories.
pub fn server_actor() -> Actor {
    Actor::admin("posfield-server", "server")
}

/// The automerge actor id of the server's own changes.
pub const SERVER_ACTOR_ID: &[u8] = b"posfield-server";

/// Why a projection failed.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The sync repository failed.
    #[error(transparent)]
    Link(#[from] posfield_sync_link_server::LinkError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
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
    /// No such visit.
    #[error("no visit {0}")]
    NotFound(String),
}

impl From<rusqlite::Error> for ProjectionError {
    fn from(e: rusqlite::Error) -> Self {
        ProjectionError::Db(e.into())
    }
}

/// Brings the projections of `ids` up to date with their documents, in one
/// database transaction. A visit that cannot be projected is logged and
/// left out; the others are written.
pub async fn project_all(state: &State, ids: BTreeSet<String>) {
    if ids.is_empty() {
        return;
    }
    let _turn = state.projection_lock.lock().await;
    let mut rows = Vec::with_capacity(ids.len());
    for id in &ids {
        match prepare(state, id).await {
            Ok(Some(row)) => rows.push(row),
            Ok(None) => {}
            Err(error) => tracing::error!(visit = %id, %error, "projecting a visit failed"),
        }
    }
    if let Err(error) = write_rows(state, rows).await {
        tracing::error!(visits = ids.len(), %error, "writing projections failed");
    }
}

/// Brings the projection of visit `id` up to date with its document.
pub async fn project(state: &State, id: &str) -> Result<(), ProjectionError> {
    let _turn = state.projection_lock.lock().await;
    let rows: Vec<Row> = prepare(state, id).await?.into_iter().collect();
    write_rows(state, rows).await
}

/// A visit's projection, ready to write.
pub(crate) struct Row {
    visit: Visit,
    owner: String,
    office: OfficeFields,
    pub(crate) heads: Vec<String>,
}

/// Reads visit `id`'s document and works out its projection row, restoring
/// back-office fields an agent changed. `None` when the server does not
/// have the document or the projection already holds its heads. Called
/// with the projection lock held.
async fn prepare(state: &State, id: &str) -> Result<Option<Row>, ProjectionError> {
    let Some(chunks) = state.repo.chunks(id).await? else { return Ok(None) };
    let loaded = tokio::task::spawn_blocking(move || load_visit(chunks.iter().map(Vec::as_slice)))
        .await
        .map_err(|_| crate::db::DbError::Cancelled)?;
    settle(state, id, loaded).await
}

/// A visit document from its chunks, and the typed visit in it.
pub(crate) fn load_visit<'a>(
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<(VisitDoc, Visit), DocError> {
    VisitDoc::load_chunks(chunks).and_then(|d| d.visit().map(|v| (d, v)))
}

/// Works out the projection row of visit `id` from its loaded document
/// (refused when unreadable or another visit's), restoring back-office
/// fields an agent changed. `None` when the projection already holds its
/// heads. Called with the projection lock held.
pub(crate) async fn settle(
    state: &State,
    id: &str,
    loaded: Result<(VisitDoc, Visit), DocError>,
) -> Result<Option<Row>, ProjectionError> {
    let id_owned = id.to_owned();
    let existing: Option<(String, String, String)> = state
        .db
        .run(move |c| {
            Ok(c.query_row("SELECT heads, office, owner FROM visits WHERE id = ?1", [&id_owned], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?)
        })
        .await?;
    let mut doc = match loaded {
        Ok((doc, visit)) if visit.id == id => (doc, visit),
        Ok((_, visit)) => {
            return refuse(state, id, format!("the document says it is visit {}", visit.id)).await;
        }
        Err(e) => return refuse(state, id, e.to_string()).await,
    };
    let mut heads = doc.0.heads();
    heads.sort();
    if existing.as_ref().is_some_and(|(known, _, _)| *known == heads.join(",")) {
        return Ok(None);
    }
    let (owner, trusted) = match &existing {
        Some((_, office, owner)) => (
            owner.clone(),
            serde_json::from_str::<OfficeFields>(office)
                .map_err(|e| ProjectionError::Document { id: id.to_owned(), reason: e.to_string() })?,
        ),
        None => {
            let owner = state.access.owner_of(id).unwrap_or_else(|| doc.1.assignment.agent.clone());
            let trusted = OfficeFields::first_seen(&doc.1, &owner);
            (owner, trusted)
        }
    };
    let forged = trusted.forged(&doc.1);
    let mut visit = doc.1.clone();
    if !forged.is_empty() {
        doc.0.set_actor(SERVER_ACTOR_ID);
        visit = doc.0.restore_office_fields(&server_ctx(), &trusted, &forged)?;
        let increment = doc.0.save_incremental();
        state.repo.merge(id, increment).await?;
        let names: Vec<&str> = forged.iter().map(|f| f.code()).collect();
        tracing::warn!(visit = %id, %owner, fields = ?names, "restored back-office fields an agent changed");
        let (id_owned, owner, detail) = (id.to_owned(), owner.clone(), names.join(","));
        state
            .db
            .run(move |c| Db::audit(c, Some(&id_owned), &owner, "restored_office_fields", &detail))
            .await?;
    }
    let office = trusted.accept(&visit);
    let heads = doc.0.heads();
    Ok(Some(Row { visit, owner, office, heads }))
}

async fn refuse<T>(state: &State, id: &str, reason: String) -> Result<T, ProjectionError> {
    tracing::warn!(visit = %id, %reason, "a synced document is not a readable visit");
    let (id_owned, detail) = (id.to_owned(), reason.clone());
    state.db.run(move |c| Db::audit(c, Some(&id_owned), "sync", "unreadable_document", &detail)).await?;
    Err(ProjectionError::Document { id: id.to_owned(), reason })
}

fn server_ctx() -> Ctx {
    Ctx::new(server_actor(), Timestamp(crate::db::now_millis()), uuid::Uuid::now_v7().to_string())
}

/// Writes the projection rows of a visit and its acceptance's countersignature.
async fn write_projection(
    state: &State,
    visit: &Visit,
    owner: &str,
    office: &OfficeFields,
    heads: &[String],
) -> Result<(), ProjectionError> {
    let row =
        Row { visit: visit.clone(), owner: owner.to_owned(), office: office.clone(), heads: heads.to_vec() };
    write_rows(state, vec![row]).await
}

/// Writes projection rows and their acceptances' countersignatures in one
/// transaction, then lets the access map know the visits.
pub(crate) async fn write_rows(state: &State, rows: Vec<Row>) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    let signing_key = state.signing_key.clone();
    let rows = state
        .db
        .run(move |c| {
            let tx = c.transaction()?;
            for row in &rows {
                write_row(&tx, row, &signing_key)?;
            }
            tx.commit()?;
            Ok(rows)
        })
        .await?;
    for row in rows {
        state.access.set_visit(&row.visit.id, &row.owner, &row.visit.assignment.agent);
    }
    Ok(())
}

fn write_row(
    tx: &rusqlite::Transaction<'_>,
    row: &Row,
    signing_key: &SigningKey,
) -> Result<(), crate::db::DbError> {
    let Row { visit, owner, office, heads } = row;
    let office_json = serde_json::to_string(office).unwrap_or_default();
    let mut heads = heads.clone();
    heads.sort();
    let heads = heads.join(",");
    let blobs = referenced_blobs(visit);
    tx.execute("DELETE FROM visit_blobs WHERE visit_id = ?1", [&visit.id])?;
    for sha in &blobs {
        tx.execute(
            "INSERT OR IGNORE INTO visit_blobs (visit_id, sha256) VALUES (?1, ?2)",
            params![visit.id, sha],
        )?;
    }
    let missing: i64 = tx.query_row(
        "SELECT count(*) FROM visit_blobs vb WHERE vb.visit_id = ?1
         AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = vb.sha256)",
        [&visit.id],
        |r| r.get(0),
    )?;
    let serial = visit.terminal.as_ref().map(|t| t.serial.clone());
    let updated_at = visit.history.last().map(|h| h.stamp.at.seconds()).unwrap_or(visit.created.at.seconds());
    tx.execute(
        "INSERT INTO visits (id, owner, kind, status, merchant, merchant_number, serial, assignee, created_by,
            created_at, updated_at, heads, office, blobs_missing, sim_iccid, sim_expiry)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
         ON CONFLICT (id) DO UPDATE SET kind = ?3, status = ?4, merchant = ?5, merchant_number = ?6,
            serial = ?7, assignee = ?8, updated_at = ?11, heads = ?12, office = ?13, blobs_missing = ?14,
            sim_iccid = ?15, sim_expiry = ?16",
        params![
            visit.id,
            owner,
            visit.kind.code(),
            visit.status.code(),
            visit.merchant.name,
            visit.merchant.merchant_number,
            serial,
            visit.assignment.agent,
            visit.created.by.user,
            visit.created.at.seconds(),
            updated_at,
            heads,
            office_json,
            missing,
            visit.sim.as_ref().map(|s| s.current_iccid().to_owned()),
            visit.sim.as_ref().map(|s| s.current_expiry().to_string()),
        ],
    )?;
    if let Some(serial) = &serial {
        tx.execute(
            "INSERT INTO terminals (serial, merchant, sim_iccid, sim_carrier, sim_expiry, last_visit, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (serial) DO UPDATE SET merchant = ?2, sim_iccid = COALESCE(?3, sim_iccid),
                sim_carrier = COALESCE(?4, sim_carrier), sim_expiry = COALESCE(?5, sim_expiry),
                last_visit = ?6, updated_at = ?7
             WHERE excluded.updated_at >= terminals.updated_at",
            params![
                serial,
                visit.merchant.name,
                visit.sim.as_ref().map(|s| s.current_iccid().to_owned()),
                visit.sim.as_ref().map(|s| s.carrier.code()),
                visit.sim.as_ref().map(|s| s.current_expiry().to_string()),
                visit.id,
                updated_at
            ],
        )?;
    }
    countersign(tx, visit, signing_key)?;
    Ok(())
}

/// Every blob a visit refers to: document photos, the signature image and
/// fault evidence.
pub fn referenced_blobs(visit: &Visit) -> BTreeSet<String> {
    let mut blobs: BTreeSet<String> = visit.current_documents().map(|d| d.sha256.clone()).collect();
    if let Some(acceptance) = &visit.acceptance {
        blobs.insert(acceptance.signature.sha256.clone());
    }
    blobs
}

/// Verifies the device's signature of a newly arrived acceptance and stores
/// the server's countersignature over the same hashes and the arrival time.
fn countersign(
    tx: &rusqlite::Transaction<'_>,
    visit: &Visit,
    key: &SigningKey,
) -> Result<(), crate::db::DbError> {
    let Some(acceptance) = &visit.acceptance else { return Ok(()) };
    let known: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM countersignatures WHERE visit_id = ?1 AND content_hash = ?2)",
        params![visit.id, acceptance.content_hash],
        |r| r.get(0),
    )?;
    if known {
        return Ok(());
    }
    let device = acceptance.stamp.by.device.clone();
    let message =
        binding_message(&acceptance.content_hash, &acceptance.strokes_sha256, &acceptance.signature.sha256);
    let public_key = crate::auth::device_public_key(tx, &device).ok().flatten();
    let valid = public_key.is_some_and(|public| device_signature_verifies(acceptance, &public));
    let received_at = now();
    let mut countersigned = message;
    countersigned.extend_from_slice(format!("received-at {received_at}\n").as_bytes());
    let server_signature = hex::encode(key.sign(&countersigned).to_bytes());
    tx.execute(
        "INSERT INTO countersignatures (visit_id, content_hash, strokes_sha256, image_sha256, device_id,
            device_signature_valid, server_signature, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            visit.id,
            acceptance.content_hash,
            acceptance.strokes_sha256,
            acceptance.signature.sha256,
            device,
            valid,
            server_signature,
            received_at
        ],
    )?;
    if !valid {
        tracing::warn!(visit = %visit.id, %device, "an acceptance arrived whose device signature does not verify");
        Db::audit(tx, Some(&visit.id), &device, "acceptance_signature_invalid", &acceptance.content_hash)?;
    }
    Ok(())
}

/// A back-office action on a visit document: applied by the server, the
/// projection updated with the new trusted back-office fields.
pub async fn office_edit(
    state: &State,
    id: &str,
    edit: impl FnOnce(&mut VisitDoc) -> Result<Visit, VisitError>,
) -> Result<Visit, ProjectionError> {
    let _turn = state.projection_lock.lock().await;
    let (bytes, _) = state.repo.load(id).await?.ok_or_else(|| ProjectionError::NotFound(id.to_owned()))?;
    let mut doc = VisitDoc::load(&bytes)
        .map_err(|e| ProjectionError::Document { id: id.to_owned(), reason: e.to_string() })?;
    doc.set_actor(SERVER_ACTOR_ID);
    let visit = edit(&mut doc)?;
    state.repo.merge(id, doc.save_incremental()).await?;
    let owner = state.access.owner_of(id).unwrap_or_else(|| visit.assignment.agent.clone());
    let heads = doc.heads();
    write_projection(state, &visit, &owner, &OfficeFields::of(&visit), &heads).await?;
    Ok(visit)
}

/// Creates a visit at the back office, assigned to an agent.
pub async fn office_create(state: &State, visit_doc: &mut VisitDoc) -> Result<Visit, ProjectionError> {
    let _turn = state.projection_lock.lock().await;
    let visit = visit_doc
        .visit()
        .map_err(|e| ProjectionError::Document { id: String::new(), reason: e.to_string() })?;
    state.repo.merge(&visit.id, visit_doc.save()).await?;
    let owner = visit.assignment.agent.clone();
    state.access.set_visit(&visit.id, &owner, &owner);
    let heads = visit_doc.heads();
    write_projection(state, &visit, &owner, &OfficeFields::of(&visit), &heads).await?;
    Ok(visit)
}

/// The server's signing key, created on first start.
pub fn signing_key(conn: &rusqlite::Connection) -> Result<SigningKey, crate::db::DbError> {
    if let Some(hex_secret) = Db::setting(conn, "server_signing_key")?
        && let Some(secret) = hex::decode(hex_secret).ok().and_then(|b| <[u8; 32]>::try_from(b).ok())
    {
        return Ok(SigningKey::from_bytes(&secret));
    }
    let secret = crate::auth::random_bytes::<32>();
    Db::set_setting(conn, "server_signing_key", &hex::encode(secret))?;
    Ok(SigningKey::from_bytes(&secret))
}
