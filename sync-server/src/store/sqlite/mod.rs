//! The SQLite engine of the [`Store`]: one WAL file under the data folder
//! (`synchronous=FULL`, refinery migrations in `sync-server/migrations/`).
//!
//! Identities, projections, the register and the audit log share one
//! connection, used from tokio's blocking pool. samod's document chunks
//! have a reader connection and a writer thread of their own
//! ([`chunks`]), so syncs never queue behind projections; the writer
//! commits every write waiting at that moment in one transaction (group
//! commit), and small writes that may share its disk sync (a push's
//! chunks, a blob's arrival) go to it too.
//!
//! This module and its children are the only code of the server that names
//! SQLite or SQL (`tests/tidy.rs` fails otherwise).

mod actors;
mod backup;
mod chunks;
mod export;
mod office;
mod outbox;
mod register;
mod sessions;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use posfield_shared::protocol::ManifestEntry;
use posfield_shared::visit::outcome::Registered;
use posfield_sync_link_server::storage::{KvStore, StorageError, StorageFuture};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use self::chunks::{Pending, Write};
pub use self::export::SqliteExport;
use super::{
    ActorOwners, AlertWindow, Alerts, AuditEntry, AuditQuery, AuditRecord, COMMAND_LINE, CheckIn, CustodyRow,
    DashboardFigures, DashboardWindow, DeliveryOutcome, DeviceKeys, DeviceRecord, DeviceRow, HolderNow,
    NewDevice, NewSession, OutboxMessage, OutboxRecord, OutboxView, Principal, Projected, ProjectionRow,
    RegisterCause, RegisterRow, Renewal, SeenVersion, SessionLimits, SessionRecord, Store, StoreError,
    StoreFuture, TerminalEventRow, TerminalRow, UserRecord, UserRole, VisitFacts, VisitPage, VisitQuery,
    VisitRow,
};
use crate::clock::now;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// The versions a device sent, from three columns starting at `first`
/// (app version, schema version, protocol); `None` when it sent none yet.
fn seen_version(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Option<SeenVersion>> {
    let app: Option<String> = row.get(first)?;
    Ok(match app {
        None => None,
        Some(app) => Some(SeenVersion {
            app,
            schema: row.get(first + 1)?,
            protocol: row.get::<_, Option<u32>>(first + 2)?.unwrap_or(1),
        }),
    })
}

/// The SQLite library this binary links: its version, and SQLCipher's when
/// SQLCipher is what was linked (only it answers `PRAGMA cipher_version`).
/// The server is built without it (`posfield-server about` says so).
pub fn library() -> Result<String, StoreError> {
    let conn = Connection::open_in_memory()?;
    let cipher: Option<String> = conn.query_row("PRAGMA cipher_version", [], |row| row.get(0)).optional()?;
    Ok(match cipher {
        Some(cipher) => format!("SQLite {} with SQLCipher {cipher}", rusqlite::version()),
        None => format!("SQLite {}, no SQLCipher", rusqlite::version()),
    })
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Engine(e.to_string())
    }
}

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// Read-only connections for the reads that write nothing: the sync
    /// path's (access, manifests), authentication's and the back office's
    /// lists, which never wait for a projection being written nor, up to
    /// the pool's size, for one another.
    readers: Arc<Readers>,
    chunk_reader: Arc<Mutex<Connection>>,
    writer: std::sync::mpsc::Sender<Pending>,
    /// Visit ids claimed by an agent whose documents are not projected yet
    /// (visit id -> agent). They live as long as the process, as the
    /// claims they stand for are made again by the next sync.
    claims: Arc<Mutex<HashMap<String, String>>>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish()
    }
}

/// The keys a device's rotations replaced, the most recent first.
pub(super) fn earlier_keys(c: &Connection, device_id: &str) -> Result<Vec<String>, StoreError> {
    let mut statement = c.prepare_cached(
        "SELECT public_key FROM device_earlier_keys WHERE device_id = ?1 ORDER BY replaced_at DESC, rowid DESC",
    )?;
    let keys = statement.query_map([device_id], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
    Ok(keys)
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))?;
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")?;
    Ok(conn)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How many read-only connections [`Readers`] keeps: reads beyond them wait
/// for a turn. In WAL mode readers never block one another nor the writer.
const READERS: usize = 4;

/// A pool of read-only connections (`PRAGMA query_only`), each used by one
/// read at a time on tokio's blocking pool.
struct Readers {
    idle: Mutex<Vec<Connection>>,
    turns: Arc<tokio::sync::Semaphore>,
    path: PathBuf,
}

impl Readers {
    fn open(path: &Path, size: usize) -> Result<Readers, StoreError> {
        let idle = (0..size).map(|_| Readers::connect(path)).collect::<Result<Vec<_>, _>>()?;
        Ok(Readers {
            idle: Mutex::new(idle),
            turns: Arc::new(tokio::sync::Semaphore::new(size)),
            path: path.to_owned(),
        })
    }

    fn connect(path: &Path) -> Result<Connection, StoreError> {
        let conn = connect(path)?;
        conn.execute_batch("PRAGMA query_only=ON;")?;
        Ok(conn)
    }

    /// Runs `f` on an idle connection once a turn is free. A connection lost
    /// with a panicking read is opened again at the next turn.
    async fn run<T: Send + 'static>(
        self: Arc<Self>,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let turn = self.turns.clone().acquire_owned().await.map_err(|_| StoreError::Cancelled)?;
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let idle = lock(&self.idle).pop();
            let conn = match idle {
                Some(conn) => conn,
                None => Readers::connect(&self.path)?,
            };
            let result = f(&conn);
            lock(&self.idle).push(conn);
            result
        })
        .await
        .map_err(|_| StoreError::Cancelled)?
    }
}

/// The access rule in SQL: the condition under which `principal` reaches
/// the visit row `v` (an agent: it owns the visit or is assigned it; the
/// back office: every visit), with its parameter. It is the first
/// condition of every query it scopes, so the agent is parameter 1 and
/// the query's own parameters are numbered after it.
fn reach(principal: &Principal) -> (&'static str, Vec<Value>) {
    match principal {
        Principal::Agent { agent, .. } => {
            ("(v.owner = ?1 OR v.assignee = ?1)", vec![Value::Text(agent.clone())])
        }
        Principal::Office { .. } => ("1 = 1", Vec::new()),
    }
}

fn audit(conn: &Connection, entry: &AuditEntry) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO audit (at, visit_id, actor, action, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![now(), entry.visit_id, entry.actor, entry.action, entry.detail])?;
    Ok(())
}

/// Refuses a database whose schema a newer server migrated: its history
/// names a version beyond the migrations this server embeds.
fn check_schema_version(conn: &Connection) -> Result<(), StoreError> {
    let history: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'refinery_schema_history')",
        [],
        |r| r.get(0),
    )?;
    if !history {
        return Ok(());
    }
    let found: Option<i64> =
        conn.query_row("SELECT max(version) FROM refinery_schema_history", [], |r| r.get(0))?;
    let known = embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .max()
        .unwrap_or(0);
    match found {
        Some(found) if found > known => Err(StoreError::NewerSchema { found, known }),
        _ => Ok(()),
    }
}

impl SqliteStore {
    /// Opens (creating and migrating) the database at `path`; refuses one
    /// a newer server migrated ([`StoreError::NewerSchema`]).
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let mut conn = connect(path)?;
        check_schema_version(&conn)?;
        embedded::migrations::runner().run(&mut conn).map_err(|e| StoreError::Migration(e.to_string()))?;
        let writer_conn = connect(path)?;
        let (writer, writes) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("db-writer".into())
            .spawn(move || chunks::write_batches(writer_conn, writes))
            .map_err(|e| StoreError::Migration(format!("cannot start the database writer: {e}")))?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            readers: Arc::new(Readers::open(path, READERS)?),
            chunk_reader: Arc::new(Mutex::new(connect(path)?)),
            writer,
            claims: Arc::default(),
            path: path.to_owned(),
        })
    }

    /// Runs `f` on the connection on tokio's blocking pool.
    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'static, T> {
        let conn = self.conn.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || f(&mut lock(&conn)))
                .await
                .map_err(|_| StoreError::Cancelled)?
        })
    }

    /// Runs a read that writes nothing on one of the read-only connections
    /// ([`Readers`]), on tokio's blocking pool.
    fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'static, T> {
        Box::pin(self.readers.clone().run(f))
    }

    /// Hands a write to the writer thread; resolves once it is durable.
    fn write(&self, write: Write) -> StoreFuture<'static, ()> {
        let (done, outcome) = tokio::sync::oneshot::channel();
        let sent = self.writer.send(Pending { write, done });
        Box::pin(async move {
            sent.map_err(|_| StoreError::Cancelled)?;
            outcome.await.map_err(|_| StoreError::Cancelled)?
        })
    }

    /// Runs a small write on the writer thread, where it shares one
    /// transaction and disk sync with the writes waiting beside it (in a
    /// savepoint of its own).
    fn batched(
        &self,
        job: impl FnOnce(&Connection) -> Result<(), StoreError> + Send + 'static,
    ) -> StoreFuture<'static, ()> {
        self.write(Write::Job(Box::new(job)))
    }

    /// Reads document chunks on their own connection, on the blocking pool.
    fn read_chunks<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> StorageFuture<T> {
        let conn = self.chunk_reader.clone();
        Box::pin(async move {
            match tokio::task::spawn_blocking(move || f(&lock(&conn))).await {
                Ok(result) => result.map_err(|e| StorageError(e.to_string())),
                Err(_) => Err(StorageError("the server is shutting down".into())),
            }
        })
    }

    /// From now on every write of a document chunk fails as a full disk
    /// would, so tests can see what a write the database refused does.
    #[cfg(test)]
    pub(crate) async fn refuse_document_writes(&self) -> Result<(), StoreError> {
        self.batched(|c| {
            c.execute_batch(
                "CREATE TEMP TRIGGER refuse_chunk_inserts BEFORE INSERT ON doc_chunks
                     BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;
                 CREATE TEMP TRIGGER refuse_chunk_updates BEFORE UPDATE ON doc_chunks
                     BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;
                 CREATE TEMP TRIGGER refuse_chunk_deletes BEFORE DELETE ON doc_chunks
                     BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
            )?;
            Ok(())
        })
        .await
    }

    /// The engine's connection, for tests that set up rows directly.
    #[cfg(test)]
    pub(crate) fn connection(&self) -> MutexGuard<'_, Connection> {
        lock(&self.conn)
    }
}

impl KvStore for SqliteStore {
    fn load(&self, key: String) -> StorageFuture<Option<Vec<u8>>> {
        self.read_chunks(move |c| chunks::load(c, &key))
    }

    fn load_prefix(&self, prefix: String) -> StorageFuture<Vec<(String, Vec<u8>)>> {
        self.read_chunks(move |c| chunks::load_prefix(c, &prefix))
    }

    fn put(&self, key: String, value: Vec<u8>) -> StorageFuture<()> {
        let written = self.write(Write::Put(key, value));
        Box::pin(async move { written.await.map_err(|e| StorageError(e.to_string())) })
    }

    fn delete(&self, key: String) -> StorageFuture<()> {
        let written = self.write(Write::Delete(key));
        Box::pin(async move { written.await.map_err(|e| StorageError(e.to_string())) })
    }
}

impl Store for SqliteStore {
    fn add_enrolment_code<'a>(
        &'a self,
        agent: &'a str,
        code_hash: &'a str,
        at: i64,
        expires_at: i64,
    ) -> StoreFuture<'a, ()> {
        let (agent, code_hash) = (agent.to_owned(), code_hash.to_owned());
        self.run(move |c| {
            let tx = c.transaction()?;
            tx.execute("INSERT INTO agents (name, created_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING", params![
                agent, at
            ])?;
            tx.execute(
                "INSERT INTO enrolment_codes (code_hash, agent, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![code_hash, agent, at, expires_at],
            )?;
            audit(&tx, &AuditEntry::new(None, COMMAND_LINE, "issue_enrolment_code", &agent))?;
            tx.commit()?;
            Ok(())
        })
    }

    fn enrol(&self, device: NewDevice) -> StoreFuture<'_, Option<String>> {
        self.run(move |c| {
            let tx = c.transaction()?;
            let agent: Option<String> = tx
                .query_row(
                    "SELECT agent FROM enrolment_codes WHERE code_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
                    params![device.code_hash, device.at],
                    |r| r.get(0),
                )
                .optional()?;
            // A refusal is audited by the caller, which limits how many
            // rows a flood of wrong codes writes.
            let Some(agent) = agent else { return Ok(None) };
            tx.execute("UPDATE enrolment_codes SET used_at = ?2 WHERE code_hash = ?1", params![
                device.code_hash,
                device.at
            ])?;
            // The phone's previous enrolment hands over its actors (its
            // prefix first, as prefixes are unique).
            let previous = match &device.previous_token_hash {
                Some(hash) => actors::release_previous(&tx, &agent, hash, device.at)?,
                None => None,
            };
            let prefix = previous.as_ref().and_then(|(_, prefix)| prefix.clone());
            let prefix = prefix.unwrap_or_else(|| device.actor_prefix.to_vec());
            tx.execute(
                "INSERT INTO devices (id, agent, token_hash, client_device_id, name, public_key, created_at, expires_at,
                                      actor_prefix)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    device.device_id,
                    agent,
                    device.token_hash,
                    device.client_device_id,
                    device.name,
                    device.public_key,
                    device.at,
                    device.expires_at,
                    prefix
                ],
            )?;
            audit(&tx, &AuditEntry::new(None, &agent, "enrolled", &device.device_id))?;
            if let Some((old, _)) = previous {
                actors::hand_over_bindings(&tx, &old, &device.device_id)?;
                let detail = format!("{old} by {}", device.device_id);
                audit(&tx, &AuditEntry::new(None, &agent, "device_replaced", &detail))?;
            }
            tx.commit()?;
            Ok(Some(agent))
        })
    }

    fn device_by_token<'a>(&'a self, token_hash: &'a str) -> StoreFuture<'a, Option<DeviceRecord>> {
        let token_hash = token_hash.to_owned();
        self.read(move |c| {
            // The device's own credential, or a renewal of it not used yet.
            Ok(c.prepare_cached(
                "SELECT id, agent, expires_at, revoked_at, 0, app_version, schema_version, protocol,
                        wipe_requested_at, key_rotation_requested_at
                   FROM devices WHERE token_hash = ?1
                 UNION ALL
                 SELECT d.id, d.agent, r.expires_at, d.revoked_at, 1, d.app_version, d.schema_version, d.protocol,
                        d.wipe_requested_at, d.key_rotation_requested_at
                   FROM credential_renewals r JOIN devices d ON d.id = r.device_id WHERE r.token_hash = ?1",
            )?
            .query_row([token_hash], |r| {
                Ok(DeviceRecord {
                    id: r.get(0)?,
                    agent: r.get(1)?,
                    expires_at: r.get(2)?,
                    revoked: r.get::<_, Option<i64>>(3)?.is_some(),
                    renewal: r.get::<_, i64>(4)? == 1,
                    seen: seen_version(r, 5)?,
                    wipe_requested: r.get::<_, Option<i64>>(8)?.is_some(),
                    key_rotation_requested: r.get::<_, Option<i64>>(9)?.is_some(),
                })
            })
            .optional()?)
        })
    }

    fn revoke_device<'a>(&'a self, device_id: &'a str, at: i64) -> StoreFuture<'a, bool> {
        let device_id = device_id.to_owned();
        self.run(move |c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE devices SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![device_id, at],
            )?;
            if n > 0 {
                tx.execute("DELETE FROM credential_renewals WHERE device_id = ?1", [&device_id])?;
                audit(&tx, &AuditEntry::new(None, COMMAND_LINE, "revoke_device", &device_id))?;
            }
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn request_wipe<'a>(&'a self, device_id: &'a str, actor: &'a str, at: i64) -> StoreFuture<'a, bool> {
        let (device_id, actor) = (device_id.to_owned(), actor.to_owned());
        self.run(move |c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE devices SET wipe_requested_at = ?2, wipe_requested_by = ?3
                  WHERE id = ?1 AND revoked_at IS NULL AND wipe_requested_at IS NULL",
                params![device_id, at, actor],
            )?;
            if n > 0 {
                audit(&tx, &AuditEntry::new(None, &actor, "wipe_device", &device_id))?;
            }
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn confirm_wiped<'a>(&'a self, device_id: &'a str, at: i64) -> StoreFuture<'a, bool> {
        let device_id = device_id.to_owned();
        self.run(move |c| {
            let tx = c.transaction()?;
            let agent: Option<String> = tx
                .query_row(
                    "SELECT agent FROM devices WHERE id = ?1 AND wipe_requested_at IS NOT NULL AND wiped_at IS NULL",
                    [&device_id],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(agent) = agent else { return Ok(false) };
            tx.execute(
                "UPDATE devices SET wiped_at = ?2, revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                params![device_id, at],
            )?;
            tx.execute("DELETE FROM credential_renewals WHERE device_id = ?1", [&device_id])?;
            audit(&tx, &AuditEntry::new(None, &agent, "device_wiped", &device_id))?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn request_key_rotation<'a>(
        &'a self,
        device_id: &'a str,
        actor: &'a str,
        at: i64,
    ) -> StoreFuture<'a, bool> {
        let (device_id, actor) = (device_id.to_owned(), actor.to_owned());
        self.run(move |c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE devices SET key_rotation_requested_at = ?2, key_rotation_requested_by = ?3
                  WHERE id = ?1 AND revoked_at IS NULL AND wiped_at IS NULL AND key_rotation_requested_at IS NULL",
                params![device_id, at, actor],
            )?;
            if n > 0 {
                audit(&tx, &AuditEntry::new(None, &actor, "rotate_device_key", &device_id))?;
            }
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn device_keys<'a>(&'a self, device_id: &'a str) -> StoreFuture<'a, Option<DeviceKeys>> {
        let device_id = device_id.to_owned();
        self.read(move |c| {
            let device = c
                .prepare_cached(
                    "SELECT agent, public_key, key_rotation_requested_at FROM devices WHERE id = ?1",
                )?
                .query_row([&device_id], |r| {
                    Ok(DeviceKeys {
                        agent: r.get(0)?,
                        current: r.get(1)?,
                        earlier: Vec::new(),
                        rotation_requested: r.get::<_, Option<i64>>(2)?.is_some(),
                    })
                })
                .optional()?;
            let Some(mut device) = device else { return Ok(None) };
            device.earlier = earlier_keys(c, &device_id)?;
            Ok(Some(device))
        })
    }

    fn replace_device_key<'a>(
        &'a self,
        device_id: &'a str,
        old: &'a str,
        new: &'a str,
        at: i64,
    ) -> StoreFuture<'a, bool> {
        let (device_id, old, new) = (device_id.to_owned(), old.to_owned(), new.to_owned());
        self.run(move |c| {
            let tx = c.transaction()?;
            let agent: Option<String> = tx
                .query_row(
                    "SELECT agent FROM devices
                      WHERE id = ?1 AND public_key = ?2 AND key_rotation_requested_at IS NOT NULL",
                    params![device_id, old],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(agent) = agent else { return Ok(false) };
            tx.execute(
                "INSERT OR IGNORE INTO device_earlier_keys (device_id, public_key, replaced_at) VALUES (?1, ?2, ?3)",
                params![device_id, old, at],
            )?;
            tx.execute(
                "UPDATE devices SET public_key = ?2, key_rotation_requested_at = NULL, key_rotation_requested_by = NULL
                  WHERE id = ?1",
                params![device_id, new],
            )?;
            audit(&tx, &AuditEntry::new(None, &agent, "device_key_rotated", &device_id))?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn device_may_sync<'a>(&'a self, device_id: &'a str) -> StoreFuture<'a, bool> {
        let device_id = device_id.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM devices WHERE id = ?1 AND revoked_at IS NULL)",
            )?
            .query_row([device_id], |r| r.get(0))?)
        })
    }

    fn add_renewal(&self, renewal: Renewal) -> StoreFuture<'_, bool> {
        self.run(move |c| {
            let tx = c.transaction()?;
            let agent: Option<String> = tx
                .query_row(
                    "SELECT agent FROM devices WHERE id = ?1 AND revoked_at IS NULL",
                    [&renewal.device_id],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(agent) = agent else { return Ok(false) };
            tx.execute(
                "INSERT INTO credential_renewals (token_hash, device_id, issued_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![renewal.token_hash, renewal.device_id, renewal.at, renewal.expires_at],
            )?;
            tx.execute(
                "DELETE FROM credential_renewals WHERE device_id = ?1 AND token_hash NOT IN (
                     SELECT token_hash FROM credential_renewals WHERE device_id = ?1
                      ORDER BY issued_at DESC, token_hash LIMIT ?2)",
                params![renewal.device_id, super::RENEWALS_KEPT],
            )?;
            let detail = format!("{} until {}", renewal.device_id, renewal.expires_at);
            audit(&tx, &AuditEntry::new(None, &agent, "credential_renewed", &detail))?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn take_renewal<'a>(&'a self, device_id: &'a str, token_hash: &'a str) -> StoreFuture<'a, ()> {
        let (device_id, token_hash) = (device_id.to_owned(), token_hash.to_owned());
        self.run(move |c| {
            let tx = c.transaction()?;
            let taken = tx.execute(
                "UPDATE devices SET token_hash = r.token_hash, expires_at = r.expires_at
                   FROM credential_renewals r
                  WHERE devices.id = ?1 AND r.device_id = ?1 AND r.token_hash = ?2",
                params![device_id, token_hash],
            )?;
            if taken > 0 {
                // The credential it replaced went with the update; the other renewals go now.
                tx.execute("DELETE FROM credential_renewals WHERE device_id = ?1", [&device_id])?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn record_version<'a>(
        &'a self,
        device_id: &'a str,
        seen: &'a SeenVersion,
        at: i64,
    ) -> StoreFuture<'a, ()> {
        let (device_id, seen) = (device_id.to_owned(), seen.clone());
        self.run(move |c| {
            c.execute(
                "UPDATE devices SET app_version = ?2, schema_version = ?3, protocol = ?4, version_since = ?5
                  WHERE id = ?1",
                params![device_id, seen.app, seen.schema, seen.protocol, at],
            )?;
            Ok(())
        })
    }

    fn actor_owners<'a>(&'a self, device_id: &'a str, actors: &'a [Vec<u8>]) -> StoreFuture<'a, ActorOwners> {
        let (device_id, actors) = (device_id.to_owned(), actors.to_vec());
        self.read(move |c| actors::owners(c, &device_id, &actors))
    }

    fn bind_actors<'a>(
        &'a self,
        device_id: &'a str,
        actors: &'a [Vec<u8>],
        at: i64,
    ) -> StoreFuture<'a, Option<(Vec<u8>, String)>> {
        let (device_id, actors) = (device_id.to_owned(), actors.to_vec());
        self.run(move |c| actors::bind(c, &device_id, &actors, at))
    }

    fn devices(&self) -> StoreFuture<'_, Vec<DeviceRow>> {
        self.read(|c| {
            let mut statement = c.prepare_cached(
                "SELECT id, agent, name, created_at, expires_at, revoked_at,
                        app_version, schema_version, protocol, version_since,
                        wipe_requested_at, wipe_requested_by, wiped_at,
                        public_key, key_rotation_requested_at, key_rotation_requested_by,
                        (SELECT COUNT(*) FROM device_earlier_keys k WHERE k.device_id = devices.id)
                   FROM devices ORDER BY agent, created_at, id",
            )?;
            let rows = statement.query_map([], |r| {
                Ok(DeviceRow {
                    id: r.get(0)?,
                    agent: r.get(1)?,
                    name: r.get(2)?,
                    enrolled_at: r.get(3)?,
                    expires_at: r.get(4)?,
                    revoked_at: r.get(5)?,
                    seen: seen_version(r, 6)?,
                    seen_since: r.get(9)?,
                    wipe_requested: match (r.get::<_, Option<i64>>(10)?, r.get::<_, Option<String>>(11)?) {
                        (Some(at), by) => Some((at, by.unwrap_or_default())),
                        (None, _) => None,
                    },
                    wiped_at: r.get(12)?,
                    public_key: r.get(13)?,
                    key_rotation_requested: match (
                        r.get::<_, Option<i64>>(14)?,
                        r.get::<_, Option<String>>(15)?,
                    ) {
                        (Some(at), by) => Some((at, by.unwrap_or_default())),
                        (None, _) => None,
                    },
                    earlier_keys: r.get::<_, i64>(16)? as usize,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn put_user<'a>(&'a self, name: &'a str, role: UserRole, password_hash: &'a str) -> StoreFuture<'a, ()> {
        let (name, password_hash) = (name.to_owned(), password_hash.to_owned());
        self.run(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO users (name, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET role = ?2, password_hash = ?3",
                params![name, role.code(), password_hash, now()],
            )?;
            // Sessions opened with the old role or password end with them.
            sessions::end_all(&tx, &name)?;
            audit(
                &tx,
                &AuditEntry::new(None, COMMAND_LINE, "add_user", &format!("{name} ({})", role.code())),
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    fn user<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<UserRecord>> {
        let name = name.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT role, password_hash FROM users WHERE name = ?1")?
                .query_row([name], |r| {
                    Ok(UserRecord {
                        role: UserRole::from_code(&r.get::<_, String>(0)?),
                        password_hash: r.get(1)?,
                    })
                })
                .optional()?)
        })
    }

    fn users(&self) -> StoreFuture<'_, Vec<(String, UserRole)>> {
        self.read(move |c| {
            let mut statement = c.prepare_cached("SELECT name, role FROM users ORDER BY name")?;
            let rows =
                statement.query_map([], |r| Ok((r.get(0)?, UserRole::from_code(&r.get::<_, String>(1)?))))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn remove_user<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool> {
        let name = name.to_owned();
        self.run(move |c| {
            let tx = c.transaction()?;
            sessions::end_all(&tx, &name)?;
            let removed = tx.execute("DELETE FROM users WHERE name = ?1", [&name])? > 0;
            if removed {
                audit(&tx, &AuditEntry::new(None, COMMAND_LINE, "remove_user", &name))?;
            }
            tx.commit()?;
            Ok(removed)
        })
    }

    fn create_session<'a>(&'a self, session: &'a NewSession, limits: SessionLimits) -> StoreFuture<'a, bool> {
        let session = session.clone();
        self.run(move |c| sessions::create(c, &session, limits))
    }

    fn session<'a>(
        &'a self,
        token_hash: &'a str,
        at: i64,
        limits: SessionLimits,
    ) -> StoreFuture<'a, Option<SessionRecord>> {
        let token_hash = token_hash.to_owned();
        self.run(move |c| sessions::find(c, &token_hash, at, limits))
    }

    fn touch_session<'a>(&'a self, token_hash: &'a str, at: i64) -> StoreFuture<'a, ()> {
        let token_hash = token_hash.to_owned();
        self.run(move |c| sessions::touch(c, &token_hash, at))
    }

    fn end_session<'a>(&'a self, token_hash: &'a str) -> StoreFuture<'a, bool> {
        let token_hash = token_hash.to_owned();
        self.run(move |c| sessions::end(c, &token_hash))
    }

    fn end_user_sessions<'a>(&'a self, user: &'a str) -> StoreFuture<'a, u64> {
        let user = user.to_owned();
        self.run(move |c| sessions::end_all(c, &user))
    }

    fn agents(&self) -> StoreFuture<'_, Vec<String>> {
        self.read(|c| {
            let mut statement = c.prepare_cached("SELECT name FROM agents ORDER BY name")?;
            Ok(statement.query_map([], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn enrolled_agents(&self) -> StoreFuture<'_, Vec<String>> {
        self.read(|c| {
            let mut statement = c.prepare_cached(
                "SELECT DISTINCT agent FROM devices WHERE revoked_at IS NULL ORDER BY agent",
            )?;
            Ok(statement.query_map([], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn setting<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<String>> {
        let key = key.to_owned();
        self.read(move |c| {
            Ok(c.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0)).optional()?)
        })
    }

    fn set_setting<'a>(&'a self, key: &'a str, value: &'a str) -> StoreFuture<'a, ()> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.run(move |c| {
            c.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
                params![key, value],
            )?;
            Ok(())
        })
    }

    fn signing_key_moved_out<'a>(&'a self, key: &'a str, public_key: &'a str) -> StoreFuture<'a, ()> {
        let (key, public_key) = (key.to_owned(), public_key.to_owned());
        self.run(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE countersignatures SET server_public_key = ?1 WHERE server_public_key IS NULL",
                [&public_key],
            )?;
            tx.execute("DELETE FROM settings WHERE key = ?1", [&key])?;
            tx.commit()?;
            Ok(())
        })
    }

    fn audit(&self, entry: AuditEntry) -> StoreFuture<'_, ()> {
        self.run(move |c| audit(c, &entry))
    }

    fn audit_search<'a>(
        &'a self,
        query: &'a AuditQuery,
        limit: usize,
    ) -> StoreFuture<'a, Vec<(i64, AuditRecord)>> {
        let query = query.clone();
        self.read(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT id, at, visit_id, actor, action, detail FROM audit
                 WHERE (?1 IS NULL OR actor = ?1) AND (?2 IS NULL OR action = ?2) AND (?3 IS NULL OR visit_id = ?3)
                   AND (?4 IS NULL OR at >= ?4) AND (?5 IS NULL OR at < ?5) AND (?6 IS NULL OR id < ?6)
                 ORDER BY id DESC LIMIT ?7",
            )?;
            let rows = statement.query_map(
                params![query.actor, query.action, query.visit_id, query.from, query.until, query.before, limit as i64],
                |r| {
                    Ok((
                        r.get(0)?,
                        AuditRecord {
                            at: r.get(1)?,
                            entry: AuditEntry {
                                visit_id: r.get(2)?,
                                actor: r.get(3)?,
                                action: r.get(4)?,
                                detail: r.get(5)?,
                            },
                        },
                    ))
                },
            )?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn audit_log<'a>(&'a self, visit_id: Option<&'a str>, limit: usize) -> StoreFuture<'a, Vec<AuditRecord>> {
        Box::pin(async move {
            let query = AuditQuery { visit_id: visit_id.map(str::to_owned), ..AuditQuery::default() };
            Ok(self.audit_search(&query, limit).await?.into_iter().map(|(_, record)| record).collect())
        })
    }

    fn reaches_visits<'a>(
        &'a self,
        principal: &'a Principal,
        visit_ids: &'a [String],
        claim: bool,
    ) -> StoreFuture<'a, Vec<bool>> {
        let Principal::Agent { agent, .. } = principal else {
            // The back office reaches every visit there is.
            let all = vec![true; visit_ids.len()];
            return Box::pin(async move { Ok::<_, StoreError>(all) });
        };
        let (agent, principal, visit_ids) = (agent.clone(), principal.clone(), visit_ids.to_vec());
        let claims = self.claims.clone();
        self.read(move |c| {
            // Held across the queries: a projection written meanwhile drops
            // its claims only after its rows are visible.
            let mut claims = lock(&claims);
            let (condition, args) = reach(&principal);
            let mut statement = c.prepare_cached(&format!(
                "SELECT EXISTS (SELECT 1 FROM visits v WHERE v.id = ?2),
                        EXISTS (SELECT 1 FROM visits v WHERE {condition} AND v.id = ?2)"
            ))?;
            let mut reached = Vec::with_capacity(visit_ids.len());
            for visit_id in visit_ids {
                let mut args = args.clone();
                args.push(Value::Text(visit_id.clone()));
                let (known, reaches): (bool, bool) =
                    statement.query_row(params_from_iter(args), |r| Ok((r.get(0)?, r.get(1)?)))?;
                reached.push(if known {
                    if !reaches {
                        tracing::debug!(%visit_id, %agent, "another agent's visit refused");
                    }
                    reaches
                } else {
                    match claims.get(&visit_id) {
                        Some(owner) => *owner == agent,
                        None if claim => {
                            claims.insert(visit_id, agent.clone());
                            true
                        }
                        None => false,
                    }
                });
            }
            Ok(reached)
        })
    }

    fn manifest<'a>(&'a self, principal: &'a Principal) -> StoreFuture<'a, Vec<ManifestEntry>> {
        let (condition, args) = reach(principal);
        self.read(move |c| {
            let mut statement = c.prepare_cached(&format!(
                "SELECT v.id, v.heads FROM visits v WHERE {condition} ORDER BY v.id"
            ))?;
            let rows = statement.query_map(params_from_iter(args), |r| {
                Ok(ManifestEntry { id: r.get(0)?, heads: r.get(1)? })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn missing_blobs<'a>(&'a self, principal: &'a Principal, limit: usize) -> StoreFuture<'a, Vec<String>> {
        let (condition, args) = reach(principal);
        self.read(move |c| {
            let mut statement = c.prepare_cached(&format!(
                "SELECT DISTINCT vb.sha256 FROM visit_blobs vb JOIN visits v ON v.id = vb.visit_id
                 WHERE {condition} AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = vb.sha256)
                 ORDER BY vb.sha256 LIMIT {limit}"
            ))?;
            let rows = statement.query_map(params_from_iter(args), |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })
    }

    fn reaches_blob<'a>(&'a self, principal: &'a Principal, sha256: &'a str) -> StoreFuture<'a, bool> {
        let (condition, mut args) = reach(principal);
        args.push(Value::Text(sha256.to_owned()));
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT EXISTS (SELECT 1 FROM visit_blobs vb JOIN visits v ON v.id = vb.visit_id
                 WHERE {condition} AND vb.sha256 = ?)"
            ))?
            .query_row(params_from_iter(args), |r| r.get(0))?)
        })
    }

    fn visits_with_blob<'a>(
        &'a self,
        principal: &'a Principal,
        sha256: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<String>> {
        let (condition, mut args) = reach(principal);
        args.push(Value::Text(sha256.to_owned()));
        args.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        self.read(move |c| {
            let mut statement = c.prepare_cached(&format!(
                "SELECT v.id FROM visit_blobs vb JOIN visits v ON v.id = vb.visit_id
                 WHERE {condition} AND vb.sha256 = ? ORDER BY v.id LIMIT ?"
            ))?;
            let ids = statement.query_map(params_from_iter(args), |r| r.get(0))?.collect::<Result<_, _>>()?;
            Ok(ids)
        })
    }

    fn blob_uploaded_by<'a>(&'a self, sha256: &'a str, agent: &'a str) -> StoreFuture<'a, bool> {
        let (sha, agent) = (sha256.to_owned(), agent.to_owned());
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM blob_uploads WHERE sha256 = ?1 AND agent = ?2)",
            )?
            .query_row([sha, agent], |r| r.get(0))?)
        })
    }

    fn blob_received<'a>(&'a self, sha256: &'a str, bytes: u64, uploaded_by: &'a str) -> StoreFuture<'a, ()> {
        let (sha, agent) = (sha256.to_owned(), uploaded_by.to_owned());
        self.batched(move |c| {
            c.prepare_cached(
                "INSERT OR IGNORE INTO blobs (sha256, bytes, received_at, uploaded_by) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![sha, bytes as i64, now(), agent])?;
            c.prepare_cached("INSERT OR IGNORE INTO blob_uploads (sha256, agent, received_at) VALUES (?1, ?2, ?3)")?
                .execute(params![sha, agent, now()])?;
            c.prepare_cached(
                "UPDATE visits SET blobs_missing = (SELECT count(*) FROM visit_blobs vb WHERE vb.visit_id = visits.id
                   AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = vb.sha256))
                 WHERE id IN (SELECT visit_id FROM visit_blobs WHERE sha256 = ?1)",
            )?
            .execute([&sha])?;
            Ok(())
        })
    }

    fn unreferenced_blobs(&self, received_before: i64, limit: usize) -> StoreFuture<'_, Vec<String>> {
        self.read(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT b.sha256 FROM blobs b WHERE b.received_at < ?1
                   AND NOT EXISTS (SELECT 1 FROM visit_blobs vb WHERE vb.sha256 = b.sha256)
                   AND NOT EXISTS (SELECT 1 FROM countersignatures c WHERE c.strokes_sha256 = b.sha256)
                 ORDER BY b.received_at LIMIT ?2",
            )?;
            let rows = statement.query_map(params![received_before, limit as i64], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })
    }

    fn forget_unreferenced_blob<'a>(&'a self, sha256: &'a str) -> StoreFuture<'a, bool> {
        let sha = sha256.to_owned();
        self.run(move |c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "DELETE FROM blobs WHERE sha256 = ?1
                   AND NOT EXISTS (SELECT 1 FROM visit_blobs vb WHERE vb.sha256 = ?1)
                   AND NOT EXISTS (SELECT 1 FROM countersignatures c WHERE c.strokes_sha256 = ?1)",
                [&sha],
            )?;
            if n > 0 {
                tx.execute("DELETE FROM blob_uploads WHERE sha256 = ?1", [&sha])?;
            }
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn put_chunks(&self, chunks: Vec<(String, Vec<u8>)>) -> StoreFuture<'_, ()> {
        self.batched(move |c| {
            let mut insert = c.prepare_cached(
                "INSERT INTO doc_chunks (key, data) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET data = ?2",
            )?;
            for (key, data) in &chunks {
                insert.execute(params![key, data])?;
            }
            Ok(())
        })
    }

    fn quarantine_chunks<'a>(
        &'a self,
        visit_id: &'a str,
        keys: Vec<String>,
        reason: &'a str,
        entry: AuditEntry,
    ) -> StoreFuture<'a, ()> {
        let (visit_id, reason) = (visit_id.to_owned(), reason.to_owned());
        // Through the chunk writer, so no chunk write of a sync runs between
        // the copy and the delete.
        self.batched(move |c| {
            let mut copy = c.prepare_cached(
                "INSERT INTO quarantined_chunks (key, visit_id, data, reason, at)
                 SELECT key, ?2, data, ?3, ?4 FROM doc_chunks WHERE key = ?1
                 ON CONFLICT (key) DO UPDATE SET data = excluded.data, reason = excluded.reason, at = excluded.at",
            )?;
            let mut delete = c.prepare_cached("DELETE FROM doc_chunks WHERE key = ?1")?;
            for key in &keys {
                copy.execute(params![key, visit_id, reason, now()])?;
                delete.execute([key])?;
            }
            audit(c, &entry)
        })
    }

    fn quarantined<'a>(&'a self, visit_id: &'a str) -> StoreFuture<'a, usize> {
        let visit_id = visit_id.to_owned();
        self.read(move |c| {
            let count: i64 = c
                .prepare_cached("SELECT count(*) FROM quarantined_chunks WHERE visit_id = ?1")?
                .query_row([visit_id], |r| r.get(0))?;
            Ok(usize::try_from(count).unwrap_or(0))
        })
    }

    fn documents(&self) -> Arc<dyn KvStore> {
        Arc::new(self.clone())
    }

    fn projected<'a>(&'a self, visit_id: &'a str) -> StoreFuture<'a, Option<Projected>> {
        let visit_id = visit_id.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT heads, office, owner FROM visits WHERE id = ?1")?
                .query_row([visit_id], |r| {
                    Ok(Projected { heads: r.get(0)?, office: r.get(1)?, owner: r.get(2)? })
                })
                .optional()?)
        })
    }

    fn visit_owner<'a>(&'a self, visit_id: &'a str) -> StoreFuture<'a, Option<String>> {
        let visit_id = visit_id.to_owned();
        let claims = self.claims.clone();
        self.read(move |c| {
            let claims = lock(&claims);
            let owner: Option<String> = c
                .prepare_cached("SELECT owner FROM visits WHERE id = ?1")?
                .query_row([&visit_id], |r| r.get(0))
                .optional()?;
            Ok(owner.or_else(|| claims.get(&visit_id).cloned()))
        })
    }

    fn write_projections(&self, rows: Vec<ProjectionRow>, entries: Vec<AuditEntry>) -> StoreFuture<'_, ()> {
        let claims = self.claims.clone();
        self.run(move |c| {
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            let tx = c.transaction()?;
            for mut row in rows {
                let messages = std::mem::take(&mut row.messages);
                office::write_projection(&tx, row)?;
                outbox::enqueue(&tx, &messages, now())?;
            }
            for entry in &entries {
                audit(&tx, entry)?;
            }
            tx.commit()?;
            // The visits are known by their rows now.
            let mut claims = lock(&claims);
            for id in ids {
                claims.remove(&id);
            }
            Ok(())
        })
    }

    fn has_visits(&self) -> StoreFuture<'_, bool> {
        self.read(|c| Ok(c.query_row("SELECT EXISTS (SELECT 1 FROM visits)", [], |r| r.get(0))?))
    }

    fn visits_without_projected_phone(&self, limit: usize) -> StoreFuture<'_, Vec<String>> {
        self.read(move |c| {
            let mut statement = c.prepare("SELECT id FROM visits WHERE merchant_phone IS NULL LIMIT ?1")?;
            let ids = statement.query_map([limit as i64], |r| r.get(0))?.collect::<Result<_, _>>()?;
            Ok(ids)
        })
    }

    fn set_projected_phone<'a>(&'a self, id: &'a str, phone: Option<&'a str>) -> StoreFuture<'a, ()> {
        let (id, phone) = (id.to_owned(), phone.unwrap_or_default().to_owned());
        self.run(move |c| {
            c.execute("UPDATE visits SET merchant_phone = ?2 WHERE id = ?1", params![id, phone])?;
            Ok(())
        })
    }

    fn visit_facts<'a>(&'a self, principal: &'a Principal, visit_id: &'a str) -> StoreFuture<'a, VisitFacts> {
        let (condition, mut args) = reach(principal);
        args.push(Value::Text(visit_id.to_owned()));
        self.read(move |c| office::visit_facts(c, condition, args))
    }

    fn visit_list<'a>(
        &'a self,
        principal: &'a Principal,
        query: &'a VisitQuery,
        limit: usize,
    ) -> StoreFuture<'a, VisitPage> {
        let (condition, args) = reach(principal);
        let query = query.clone();
        self.read(move |c| office::visits(c, condition, args, &query, limit))
    }

    fn terminal_visits<'a>(
        &'a self,
        principal: &'a Principal,
        serial: &'a str,
    ) -> StoreFuture<'a, Vec<VisitRow>> {
        let (condition, mut args) = reach(principal);
        args.push(Value::Text(serial.to_owned()));
        self.read(move |c| office::terminal_visits(c, condition, args))
    }

    fn open_visits<'a>(
        &'a self,
        principal: &'a Principal,
        serials: &'a [String],
    ) -> StoreFuture<'a, Vec<VisitRow>> {
        let (condition, args) = reach(principal);
        let serials = serials.to_vec();
        self.read(move |c| office::open_visits(c, condition, args, &serials))
    }

    fn applications<'a>(&'a self, principal: &'a Principal) -> StoreFuture<'a, Vec<(VisitRow, String)>> {
        let (condition, args) = reach(principal);
        self.read(move |c| office::applications(c, condition, args))
    }

    fn dashboard<'a>(
        &'a self,
        principal: &'a Principal,
        window: &'a DashboardWindow,
    ) -> StoreFuture<'a, DashboardFigures> {
        let (condition, args) = reach(principal);
        let window = window.clone();
        self.read(move |c| office::dashboard(c, condition, args, &window))
    }

    fn alerts<'a>(&'a self, principal: &'a Principal, window: &'a AlertWindow) -> StoreFuture<'a, Alerts> {
        let (condition, args) = reach(principal);
        let window = window.clone();
        self.read(move |c| office::alerts(c, condition, args, &window))
    }

    fn terminals<'a>(
        &'a self,
        serial_prefix: &'a str,
        merchant: &'a str,
        after: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, (Vec<TerminalRow>, Option<String>)> {
        let (serial, merchant, after) = (serial_prefix.to_owned(), merchant.to_owned(), after.to_owned());
        self.read(move |c| office::terminals(c, &serial, &merchant, &after, limit))
    }

    fn terminal<'a>(&'a self, serial: &'a str) -> StoreFuture<'a, Option<TerminalRow>> {
        let serial = serial.to_owned();
        self.read(move |c| office::terminal(c, &serial))
    }

    fn merchant_terminals<'a>(
        &'a self,
        merchant_number: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<TerminalRow>> {
        let merchant_number = merchant_number.to_owned();
        self.read(move |c| office::merchant_terminals(c, &merchant_number, limit))
    }

    fn merchant_place<'a>(&'a self, merchant_number: &'a str) -> StoreFuture<'a, Option<(i64, i64)>> {
        let merchant_number = merchant_number.to_owned();
        self.read(move |c| office::merchant_place(c, &merchant_number))
    }

    fn all_terminals(&self) -> StoreFuture<'_, Vec<TerminalRow>> {
        self.read(office::all_terminals)
    }

    fn registered<'a>(&'a self, serials: &'a [String]) -> StoreFuture<'a, BTreeMap<String, Registered>> {
        let serials = serials.to_vec();
        self.read(move |c| register::registered(c, &serials))
    }

    fn custody<'a>(&'a self, serial: &'a str, limit: usize) -> StoreFuture<'a, (HolderNow, Vec<CustodyRow>)> {
        let serial = serial.to_owned();
        self.read(move |c| register::custody(c, &serial, limit))
    }

    fn check_in(&self, check_in: CheckIn) -> StoreFuture<'_, ()> {
        self.run(move |c| {
            let tx = c.transaction()?;
            register::check_in(&tx, &check_in)?;
            tx.commit()?;
            Ok(())
        })
    }

    fn register_applied<'a>(&'a self, visit_id: &'a str, cause: RegisterCause) -> StoreFuture<'a, bool> {
        let visit_id = visit_id.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM register_effects WHERE visit_id = ?1 AND cause = ?2)",
            )?
            .query_row(params![visit_id, cause.code()], |r| r.get(0))?)
        })
    }

    fn terminal_events<'a>(
        &'a self,
        serial: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<TerminalEventRow>> {
        let serial = serial.to_owned();
        self.read(move |c| register::terminal_events(c, &serial, limit))
    }

    fn import_register(&self, rows: Vec<RegisterRow>, entry: AuditEntry) -> StoreFuture<'_, ()> {
        self.run(move |c| {
            let tx = c.transaction()?;
            office::import_register(&tx, &rows, &entry.actor)?;
            audit(&tx, &entry)?;
            tx.commit()?;
            Ok(())
        })
    }

    fn enqueue_messages(&self, messages: Vec<OutboxMessage>) -> StoreFuture<'_, usize> {
        self.run(move |c| {
            let tx = c.transaction()?;
            let added = outbox::enqueue(&tx, &messages, now())?;
            tx.commit()?;
            Ok(added)
        })
    }

    fn take_due_messages(
        &self,
        now: i64,
        lease_until: i64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<OutboxRecord>> {
        self.run(move |c| outbox::take_due(c, now, lease_until, limit))
    }

    fn release_sending_messages(&self, now: i64) -> StoreFuture<'_, usize> {
        self.run(move |c| outbox::release_sending(c, now))
    }

    fn record_delivery(&self, id: i64, outcome: DeliveryOutcome, now: i64) -> StoreFuture<'_, ()> {
        self.run(move |c| outbox::record_delivery(c, id, &outcome, now))
    }

    fn outbox(&self, limit: usize) -> StoreFuture<'_, OutboxView> {
        self.read(move |c| outbox::list(c, limit))
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod readers_tests {
    use std::time::Duration;

    use super::*;

    /// Authentication, the sync path's checks and the back office's lists
    /// answer while a write holds the engine's connection in a transaction
    /// (a long projection, an import): they read on connections of their
    /// own, and see only what was committed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_answer_while_a_write_holds_the_connection() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("server.db")).unwrap();
        store.put_user("chen", UserRole::Reviewer, "hash").await.unwrap();
        let (held, holding) = (store.conn.clone(), std::sync::mpsc::channel());
        let (release, released) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let conn = lock(&held);
            conn.execute_batch("BEGIN IMMEDIATE; INSERT INTO settings (key, value) VALUES ('k', 'v');")
                .unwrap();
            holding.0.send(()).unwrap();
            released.recv().unwrap();
            conn.execute_batch("COMMIT").unwrap();
        });
        holding.1.recv().unwrap();
        let office = Principal::Office { name: "chen".into(), role: UserRole::Reviewer };
        let reads = tokio::time::timeout(Duration::from_secs(10), async {
            (
                store.user("chen").await.unwrap(),
                store.device_by_token("no such token").await.unwrap(),
                store.visit_list(&office, &VisitQuery::default(), 10).await.unwrap(),
                store.manifest(&office).await.unwrap(),
                store.setting("k").await.unwrap(),
            )
        })
        .await;
        release.send(()).unwrap();
        holder.join().unwrap();
        let (user, device, list, manifest, setting) = reads.expect("the reads waited for the write");
        assert_eq!(user.map(|u| u.role), Some(UserRole::Reviewer));
        assert!(device.is_none() && list.0.is_empty() && manifest.is_empty());
        assert_eq!(setting, None, "a read saw a write not committed yet");
        assert_eq!(store.setting("k").await.unwrap().as_deref(), Some("v"));
    }

    /// A read-only connection refuses to write, so a write put on the
    /// readers by mistake fails loudly instead of racing the writer.
    #[tokio::test]
    async fn the_readers_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("server.db")).unwrap();
        let refused = store
            .read(|c| Ok(c.execute("INSERT INTO settings (key, value) VALUES ('k', 'v')", [])?))
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("readonly"), "{refused}");
    }
}
