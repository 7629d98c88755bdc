//! The database's rows for a migration to another engine
//! (`posfield-server migrate`), read under an exclusive lock of the file:
//! no server may run on it meanwhile, and none can start until the
//! migration ends.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::{StoreError, embedded, lock};
use crate::store::rows::{Page, TABLES, Value};

/// Tables whose ids are SQLite's row ids, which the PostgreSQL schema
/// holds in an `id` column (the newest countersignature, the order of a
/// device's earlier keys).
const ROWID_AS_ID: &[&str] = &["countersignatures", "device_earlier_keys"];

/// The database, open alone for a migration (see the module's comment).
#[derive(Debug, Clone)]
pub struct SqliteExport {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl SqliteExport {
    /// Opens the database at `path` alone: the file's lock is taken for
    /// as long as the export lives, and refused while another process
    /// (a running server) has the file open. The database must be at this
    /// server's schema version: it is read, never migrated.
    pub fn open(path: &Path) -> Result<SqliteExport, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Engine(format!("no database at {}", path.display())));
        }
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        // A server writing at this moment lets go within a second; one that runs holds on.
        conn.busy_timeout(std::time::Duration::from_secs(1))?;
        // The lock is held until the connection closes: in WAL mode, an
        // exclusive locking mode takes the file's exclusive lock at the
        // first read, which fails while another connection has it open.
        conn.query_row("PRAGMA locking_mode=EXCLUSIVE", [], |r| r.get::<_, String>(0))?;
        let busy = |e: rusqlite::Error| match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Engine(format!(
                "another process has the database {} open: stop the server first",
                path.display()
            )),
            _ => StoreError::from(e),
        };
        conn.execute_batch("BEGIN EXCLUSIVE").map_err(busy)?;
        let found: Option<i64> = conn
            .query_row("SELECT max(version) FROM refinery_schema_history", [], |r| r.get(0))
            .map_err(busy)?;
        let known = embedded::migrations::runner()
            .get_migrations()
            .iter()
            .map(|m| i64::from(m.version()))
            .max()
            .unwrap_or(0);
        match found {
            Some(found) if found > known => return Err(StoreError::NewerSchema { found, known }),
            Some(found) if found == known => {}
            found => {
                return Err(StoreError::Engine(format!(
                    "the database {} is at schema version {}, not this server's {known}: start this version's server on it once (it migrates it), stop it, then migrate",
                    path.display(),
                    found.unwrap_or(0)
                )));
            }
        }
        Ok(SqliteExport { conn: Arc::new(Mutex::new(conn)), path: path.to_owned() })
    }

    /// The database's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the connection on tokio's blocking pool.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || f(&lock(&conn))).await.map_err(|_| StoreError::Cancelled)?
    }

    /// The database's tables, each checked to be one of [`TABLES`]: a
    /// table the migration does not know stops it.
    pub async fn tables(&self) -> Result<Vec<String>, StoreError> {
        self.run(|c| {
            let mut statement = c.prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table'
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> 'refinery_schema_history' ORDER BY name",
            )?;
            let names = statement.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
            if let Some(unknown) = names.iter().find(|n| !TABLES.contains(&n.as_str())) {
                return Err(StoreError::Engine(format!(
                    "the database has a table {unknown:?} that the migration does not know: nothing was copied"
                )));
            }
            if let Some(missing) = TABLES.iter().find(|t| !names.iter().any(|n| n == *t)) {
                return Err(StoreError::Engine(format!("the database has no table {missing:?}")));
            }
            Ok(names)
        })
        .await
    }

    /// Up to `limit` rows of `table` (one of [`TABLES`]) after the
    /// position `after` (0 for the first page), in row id order.
    pub async fn page(&self, table: &str, after: i64, limit: usize) -> Result<Page, StoreError> {
        let table = known(table)?;
        self.run(move |c| {
            let id = if ROWID_AS_ID.contains(&table) { "rowid AS id, " } else { "" };
            let mut statement =
                c.prepare(&format!("SELECT rowid, {id}* FROM {table} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2"))?;
            let columns: Vec<String> = statement.column_names().skip(1).map(str::to_owned).collect();
            let mut rows = statement.query(rusqlite::params![after, i64::try_from(limit).unwrap_or(i64::MAX)])?;
            let mut page = Page { columns, rows: Vec::new(), next: None };
            while let Some(row) = rows.next()? {
                let position: i64 = row.get(0)?;
                let mut values = Vec::with_capacity(page.columns.len());
                for (i, column) in page.columns.iter().enumerate() {
                    values.push(match row.get_ref(i + 1)? {
                        ValueRef::Null => Value::Null,
                        ValueRef::Integer(n) => Value::Integer(n),
                        ValueRef::Text(t) => Value::Text(String::from_utf8(t.to_vec()).map_err(|_| {
                            StoreError::Engine(format!("{table}.{column} at row {position} is not UTF-8 text"))
                        })?),
                        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
                        ValueRef::Real(r) => {
                            return Err(StoreError::Engine(format!(
                                "{table}.{column} at row {position} holds a real number ({r}), which no column of the schema takes"
                            )));
                        }
                    });
                }
                page.rows.push(values);
                page.next = Some(position);
            }
            if page.rows.len() < limit {
                page.next = None;
            }
            Ok(page)
        })
        .await
    }

    /// How many rows `table` (one of [`TABLES`]) holds.
    pub async fn count(&self, table: &str) -> Result<u64, StoreError> {
        let table = known(table)?;
        self.run(move |c| {
            let n: i64 = c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }
}

/// `table` as the one of [`TABLES`] it names, the only names put in a statement.
fn known(table: &str) -> Result<&'static str, StoreError> {
    TABLES
        .iter()
        .copied()
        .find(|t| *t == table)
        .ok_or_else(|| StoreError::Engine(format!("no table {table:?} in the migration's list")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    /// A migrated database at `dir/posfield.db`, closed.
    fn database(dir: &Path) -> PathBuf {
        let path = dir.join("posfield.db");
        drop(SqliteStore::open(&path).unwrap());
        path
    }

    #[tokio::test]
    async fn an_open_database_is_refused_and_a_closed_one_is_held_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = database(dir.path());
        let running = SqliteStore::open(&path).unwrap();
        let refused = SqliteExport::open(&path).unwrap_err().to_string();
        assert!(refused.contains("stop the server first"), "{refused}");
        drop(running);
        let export = SqliteExport::open(&path).unwrap();
        assert_eq!(export.tables().await.unwrap().len(), TABLES.len());
        // Held: a server cannot start on it meanwhile.
        let conn = Connection::open(&path).unwrap();
        conn.busy_timeout(std::time::Duration::ZERO).unwrap();
        let blocked = conn.query_row("SELECT count(*) FROM agents", [], |r| r.get::<_, i64>(0));
        assert!(blocked.is_err(), "another connection read the database during the export");
    }

    #[tokio::test]
    async fn a_table_the_migration_does_not_know_stops_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = database(dir.path());
        Connection::open(&path).unwrap().execute_batch("CREATE TABLE later_feature (id INTEGER)").unwrap();
        let export = SqliteExport::open(&path).unwrap();
        let refused = export.tables().await.unwrap_err().to_string();
        assert!(refused.contains("\"later_feature\""), "{refused}");
    }

    #[tokio::test]
    async fn rows_come_in_pages_with_row_ids_as_ids_and_values_as_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = database(dir.path());
        let conn = Connection::open(&path).unwrap();
        for n in 0..5 {
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)",
                rusqlite::params![format!("k{n}"), format!("v{n}")],
            )
            .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO agents (name, created_at) VALUES ('wang', 7);
             INSERT INTO devices (id, agent, token_hash, client_device_id, name, public_key, created_at, expires_at, actor_prefix)
             VALUES ('d1', 'wang', 'h', 'c', 'n', 'pk', 1, 2, x'0102');
             INSERT INTO device_earlier_keys (device_id, public_key, replaced_at) VALUES ('d1', 'old', 3);",
        )
        .unwrap();
        drop(conn);
        let export = SqliteExport::open(&path).unwrap();
        let first = export.page("settings", 0, 3).await.unwrap();
        assert_eq!(first.rows.len(), 3);
        let second = export.page("settings", first.next.unwrap(), 3).await.unwrap();
        assert_eq!((second.rows.len(), second.next), (2, None));
        assert_eq!(second.rows[1], vec![Value::Text("k4".into()), Value::Text("v4".into())]);
        let keys = export.page("device_earlier_keys", 0, 10).await.unwrap();
        assert_eq!(keys.columns[0], "id");
        assert_eq!(keys.rows[0][0], Value::Integer(1));
        let devices = export.page("devices", 0, 10).await.unwrap();
        let prefix = devices.columns.iter().position(|c| c == "actor_prefix").unwrap();
        let revoked = devices.columns.iter().position(|c| c == "revoked_at").unwrap();
        assert_eq!(devices.rows[0][prefix], Value::Bytes(vec![1, 2]));
        assert_eq!(devices.rows[0][revoked], Value::Null);
        assert_eq!(export.count("settings").await.unwrap(), 5);
        assert!(export.page("sqlite_master", 0, 1).await.is_err(), "only the known tables are read");
    }
}
