//! The server's SQLite database: identities, samod's document chunks, the
//! projections and the audit log, in one WAL file under the data folder.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use posfield_sync_link_server::storage::KvStore;
use rusqlite::{Connection, OptionalExtension, params};

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// A database failure.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite said no.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The schema could not be brought up to date.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// The transaction a batched write shared with others failed.
    #[error("database error: {0}")]
    Batch(String),
    /// A blocking task was cancelled (the server is shutting down).
    #[error("the server is shutting down")]
    Cancelled,
}

/// The database: one connection for identities, projections and the audit
/// log, used from blocking tasks; and, for samod's document chunks, a writer
/// thread with its own connection that commits every write waiting for it
/// in one transaction (one disk sync for many agents' changes) and a reader
/// connection of their own, so syncs never queue behind projections.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    chunk_reader: Arc<Mutex<Connection>>,
    chunk_writer: std::sync::mpsc::Sender<ChunkWrite>,
    path: PathBuf,
}

/// A write to the document chunks, answered once it is durable.
enum ChunkWrite {
    Put(String, Vec<u8>, std::sync::mpsc::SyncSender<()>),
    Delete(String, std::sync::mpsc::SyncSender<()>),
    /// Any other small write that may share the batch's disk sync (a blob's
    /// arrival); it runs in a savepoint of its own, so its failure is its own.
    Job(Job, tokio::sync::oneshot::Sender<Result<(), DbError>>),
}

/// A write run by the writer thread.
type Job = Box<dyn FnOnce(&Connection) -> Result<(), DbError> + Send>;

/// Most chunk writes in one transaction.
const MAX_CHUNK_BATCH: usize = 1024;

fn connect(path: &Path) -> Result<Connection, DbError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))?;
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")?;
    Ok(conn)
}

/// Commits chunk writes as they come, all that are waiting at once, until
/// every sender is gone.
fn write_chunks(mut conn: Connection, writes: std::sync::mpsc::Receiver<ChunkWrite>) {
    while let Ok(first) = writes.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_CHUNK_BATCH {
            match writes.try_recv() {
                Ok(write) => batch.push(write),
                Err(_) => break,
            }
        }
        let mut outcomes: Vec<Option<Result<(), DbError>>> = Vec::with_capacity(batch.len());
        let result = (|| {
            let mut tx = conn.transaction()?;
            for write in &mut batch {
                match write {
                    ChunkWrite::Put(key, value, _) => {
                        tx.prepare_cached(
                            "INSERT INTO doc_chunks (key, data) VALUES (?1, ?2)
                             ON CONFLICT (key) DO UPDATE SET data = ?2",
                        )?
                        .execute(params![key.as_str(), value.as_slice()])?;
                        outcomes.push(None);
                    }
                    ChunkWrite::Delete(key, _) => {
                        tx.prepare_cached("DELETE FROM doc_chunks WHERE key = ?1")?
                            .execute([key.as_str()])?;
                        outcomes.push(None);
                    }
                    ChunkWrite::Job(job, _) => {
                        let job = std::mem::replace(job, Box::new(|_| Ok(())));
                        let savepoint = tx.savepoint()?;
                        let outcome = job(&savepoint);
                        if outcome.is_ok() {
                            savepoint.commit()?;
                        }
                        outcomes.push(Some(outcome));
                    }
                }
            }
            tx.commit()
        })();
        if let Err(e) = &result {
            tracing::error!(writes = batch.len(), error = %e, "a batch of database writes failed");
        }
        // One outcome per write, in the batch's order (none for a failed batch).
        let mut outcomes = outcomes.into_iter();
        for write in batch {
            let own = outcomes.next().flatten();
            match write {
                ChunkWrite::Put(_, _, done) | ChunkWrite::Delete(_, done) => {
                    let _ = done.send(());
                }
                ChunkWrite::Job(_, done) => {
                    let outcome = match (&result, own) {
                        (Ok(()), Some(outcome)) => outcome,
                        (Err(e), _) => Err(DbError::Batch(e.to_string())),
                        (Ok(()), None) => Err(DbError::Cancelled),
                    };
                    let _ = done.send(outcome);
                }
            }
        }
    }
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish()
    }
}

impl Db {
    /// Opens (creating and migrating) the database at `path`.
    pub fn open(path: &Path) -> Result<Db, DbError> {
        let mut conn = connect(path)?;
        embedded::migrations::runner().run(&mut conn).map_err(|e| DbError::Migration(e.to_string()))?;
        let writer = connect(path)?;
        let (chunk_writer, writes) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("chunk-writer".into())
            .spawn(move || write_chunks(writer, writes))
            .map_err(|e| DbError::Migration(format!("cannot start the chunk writer: {e}")))?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
            chunk_reader: Arc::new(Mutex::new(connect(path)?)),
            chunk_writer,
            path: path.to_owned(),
        })
    }

    /// The connection, for a short synchronous use.
    pub fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the connection on tokio's blocking pool.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
    ) -> Result<T, DbError> {
        let db = self.clone();
        tokio::task::spawn_blocking(move || f(&mut db.lock())).await.map_err(|_| DbError::Cancelled)?
    }

    /// Runs a small write on the batching writer thread, where it shares one
    /// transaction and disk sync with the writes waiting beside it (in a
    /// savepoint of its own). Returns once it is durable.
    pub async fn batched(
        &self,
        job: impl FnOnce(&Connection) -> Result<(), DbError> + Send + 'static,
    ) -> Result<(), DbError> {
        let (done, outcome) = tokio::sync::oneshot::channel();
        self.chunk_writer.send(ChunkWrite::Job(Box::new(job), done)).map_err(|_| DbError::Cancelled)?;
        outcome.await.map_err(|_| DbError::Cancelled)?
    }

    /// Appends to the audit log.
    pub fn audit(
        conn: &Connection,
        visit_id: Option<&str>,
        actor: &str,
        action: &str,
        detail: &str,
    ) -> Result<(), DbError> {
        conn.execute(
            "INSERT INTO audit (at, visit_id, actor, action, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![now(), visit_id, actor, action, detail],
        )?;
        Ok(())
    }

    /// A setting.
    pub fn setting(conn: &Connection, key: &str) -> Result<Option<String>, DbError> {
        Ok(conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0)).optional()?)
    }

    /// Stores a setting.
    pub fn set_setting(conn: &Connection, key: &str, value: &str) -> Result<(), DbError> {
        conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
            params![key, value],
        )?;
        Ok(())
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    now_millis() / 1000
}

/// Milliseconds since the Unix epoch (visit documents' time unit).
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The upper bound of keys under `prefix/`: `/` + 1 is `0`.
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}0")
}

impl Db {
    fn chunk_reader(&self) -> MutexGuard<'_, Connection> {
        self.chunk_reader.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Hands a write to the chunk writer and waits until it is committed.
    fn write_chunk(&self, write: impl FnOnce(std::sync::mpsc::SyncSender<()>) -> ChunkWrite) {
        let (done, committed) = std::sync::mpsc::sync_channel(1);
        if self.chunk_writer.send(write(done)).is_err() {
            tracing::error!("the chunk writer has stopped: a document chunk was not stored");
            return;
        }
        let _ = committed.recv();
    }
}

impl KvStore for Db {
    fn load(&self, key: &str) -> Option<Vec<u8>> {
        let conn = self.chunk_reader();
        conn.prepare_cached("SELECT data FROM doc_chunks WHERE key = ?1")
            .and_then(|mut statement| statement.query_row([key], |r| r.get(0)).optional())
            .unwrap_or_else(|e| {
                tracing::error!(%key, error = %e, "loading a document chunk failed");
                None
            })
    }

    fn load_prefix(&self, prefix: &str) -> Vec<(String, Vec<u8>)> {
        let conn = self.chunk_reader();
        let result = (|| {
            let mut statement = conn.prepare_cached(
                "SELECT key, data FROM doc_chunks WHERE key = ?1 OR (key >= ?2 AND key < ?3)",
            )?;
            let rows = statement
                .query_map(params![prefix, format!("{prefix}/"), prefix_end(prefix)], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            rows.collect::<Result<Vec<_>, _>>()
        })();
        result.unwrap_or_else(|e| {
            tracing::error!(%prefix, error = %e, "loading document chunks failed");
            Vec::new()
        })
    }

    fn put(&self, key: &str, value: &[u8]) {
        self.write_chunk(|done| ChunkWrite::Put(key.to_owned(), value.to_vec(), done));
    }

    fn delete(&self, key: &str) {
        self.write_chunk(|done| ChunkWrite::Delete(key.to_owned(), done));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_found_by_prefix_and_no_further() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("server.db")).unwrap();
        db.put("doc1/incremental/a", b"1");
        db.put("doc1/snapshot/b", b"2");
        db.put("doc10/incremental/c", b"3");
        db.put("doc1", b"4");
        let mut found: Vec<_> = db.load_prefix("doc1").into_iter().map(|(k, _)| k).collect();
        found.sort();
        assert_eq!(found, ["doc1", "doc1/incremental/a", "doc1/snapshot/b"]);
        assert_eq!(db.load_prefix("doc1/incremental").len(), 1);
        db.delete("doc1/snapshot/b");
        assert_eq!(db.load("doc1/snapshot/b"), None);
        assert_eq!(db.load("doc1/incremental/a").as_deref(), Some(&b"1"[..]));
    }

    #[test]
    fn concurrent_chunk_writes_are_all_committed_before_they_return() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        let db = Db::open(&path).unwrap();
        std::thread::scope(|scope| {
            for writer in 0..16 {
                let db = db.clone();
                scope.spawn(move || {
                    for i in 0..50 {
                        db.put(&format!("doc{writer}/incremental/{i}"), format!("{writer}-{i}").as_bytes());
                        // Visible to a reader as soon as put returns.
                        assert!(db.load(&format!("doc{writer}/incremental/{i}")).is_some());
                    }
                    db.delete(&format!("doc{writer}/incremental/0"));
                });
            }
        });
        drop(db);
        let reopened = Db::open(&path).unwrap();
        for writer in 0..16 {
            let chunks = reopened.load_prefix(&format!("doc{writer}"));
            assert_eq!(chunks.len(), 49, "writer {writer}");
            assert_eq!(
                reopened.load(&format!("doc{writer}/incremental/7")).unwrap(),
                format!("{writer}-7").as_bytes()
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_batched_write_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("server.db")).unwrap();
        let mut writes = Vec::new();
        for i in 0..40 {
            let db = db.clone();
            writes.push(tokio::spawn(async move {
                db.batched(move |c| {
                    if i == 17 {
                        c.execute("INSERT INTO no_such_table VALUES (1)", [])?;
                    }
                    Db::set_setting(c, &format!("k{i}"), "v")
                })
                .await
            }));
        }
        for (i, write) in writes.into_iter().enumerate() {
            let outcome = write.await.unwrap();
            assert_eq!(outcome.is_err(), i == 17, "write {i}: {outcome:?}");
        }
        let conn = db.lock();
        assert_eq!(Db::setting(&conn, "k16").unwrap().as_deref(), Some("v"));
        assert_eq!(Db::setting(&conn, "k17").unwrap(), None, "the failed write left nothing");
        assert_eq!(Db::setting(&conn, "k18").unwrap().as_deref(), Some("v"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batched_jobs_sharing_a_batch_with_chunk_writes_get_their_own_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("server.db")).unwrap();
        let writers: Vec<_> = (0..4)
            .map(|writer| {
                let db = db.clone();
                tokio::task::spawn_blocking(move || {
                    for i in 0..100 {
                        db.put(&format!("doc{writer}/incremental/{i}"), b"x");
                    }
                })
            })
            .collect();
        let mut jobs = Vec::new();
        for i in 0..200 {
            let db = db.clone();
            jobs.push(tokio::spawn(async move {
                db.batched(move |c| Db::set_setting(c, &format!("k{i}"), "v")).await
            }));
        }
        for (i, job) in jobs.into_iter().enumerate() {
            let outcome = job.await.unwrap();
            assert!(outcome.is_ok(), "job {i}: {outcome:?}");
        }
        for writer in writers {
            writer.await.unwrap();
        }
    }

    #[test]
    fn reopening_keeps_everything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        Db::open(&path).unwrap().put("k", b"v");
        assert_eq!(Db::open(&path).unwrap().load("k").as_deref(), Some(&b"v"[..]));
    }
}
