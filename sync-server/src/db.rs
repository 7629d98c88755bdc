//! The server's SQLite database: identities, samod's document chunks, the
//! projections and the audit log, in one WAL file under the data folder.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use posfield_sync_link::storage::KvStore;
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
    /// A blocking task was cancelled (the server is shutting down).
    #[error("the server is shutting down")]
    Cancelled,
}

/// The database: one connection, used from blocking tasks.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish()
    }
}

impl Db {
    /// Opens (creating and migrating) the database at `path`.
    pub fn open(path: &Path) -> Result<Db, DbError> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))?;
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")?;
        embedded::migrations::runner().run(&mut conn).map_err(|e| DbError::Migration(e.to_string()))?;
        Ok(Db { conn: Arc::new(Mutex::new(conn)), path: path.to_owned() })
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

impl KvStore for Db {
    fn load(&self, key: &str) -> Option<Vec<u8>> {
        let conn = self.lock();
        conn.query_row("SELECT data FROM doc_chunks WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .unwrap_or_else(|e| {
                tracing::error!(%key, error = %e, "loading a document chunk failed");
                None
            })
    }

    fn load_prefix(&self, prefix: &str) -> Vec<(String, Vec<u8>)> {
        let conn = self.lock();
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
        let conn = self.lock();
        if let Err(e) = conn.execute(
            "INSERT INTO doc_chunks (key, data) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET data = ?2",
            params![key, value],
        ) {
            tracing::error!(%key, error = %e, "storing a document chunk failed");
        }
    }

    fn delete(&self, key: &str) {
        let conn = self.lock();
        if let Err(e) = conn.execute("DELETE FROM doc_chunks WHERE key = ?1", [key]) {
            tracing::error!(%key, error = %e, "deleting a document chunk failed");
        }
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
    fn reopening_keeps_everything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        Db::open(&path).unwrap().put("k", b"v");
        assert_eq!(Db::open(&path).unwrap().load("k").as_deref(), Some(&b"v"[..]));
    }
}
