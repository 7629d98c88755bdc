//! The database's online backup: SQLite's backup API copies every page of
//! the live database into a new file in one step, that is in one read
//! transaction, so the copy is one consistent state of the database while
//! the server (another process) goes on writing through WAL. What the
//! copy holds is then counted in the copy itself.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::backup::{Backup, StepResult};

use super::{SqliteStore, StoreError, connect};
use crate::backup::DatabaseCounts;

/// How long a backup waits, at most, for a database another connection
/// holds locked before it gives up.
const BUSY_FOR_AT_MOST: Duration = Duration::from_secs(30);

/// Between two tries of a locked database.
const BUSY_PAUSE: Duration = Duration::from_millis(50);

impl SqliteStore {
    /// Copies the database, as it is at one moment, into a new file at
    /// `dest` (which must not exist), made durable, and counts what the
    /// copy holds. The copy is a whole database with no `-wal` beside it.
    pub fn backup_to(&self, dest: &Path) -> Result<DatabaseCounts, StoreError> {
        if dest.exists() {
            return Err(StoreError::Engine(format!(
                "the backup's database {} exists already",
                dest.display()
            )));
        }
        let source = connect(&self.path)?;
        let mut copy = Connection::open(dest)?;
        {
            let backup = Backup::new(&source, &mut copy)?;
            let mut waited = Duration::ZERO;
            // -1: every page in one step, one read transaction of the source.
            loop {
                match backup.step(-1)? {
                    StepResult::Done => break,
                    _ if waited >= BUSY_FOR_AT_MOST => {
                        return Err(StoreError::Engine(format!(
                            "the database {} stayed locked for {} s: no backup was made",
                            self.path.display(),
                            BUSY_FOR_AT_MOST.as_secs()
                        )));
                    }
                    _ => {
                        std::thread::sleep(BUSY_PAUSE);
                        waited += BUSY_PAUSE;
                    }
                }
            }
        }
        // One file: a restored server turns WAL on again when it opens it.
        copy.query_row("PRAGMA journal_mode=DELETE", [], |r| r.get::<_, String>(0))?;
        let counts = counts(&copy)?;
        copy.close().map_err(|(_, e)| StoreError::from(e))?;
        let file = std::fs::File::open(dest)
            .map_err(|e| StoreError::Engine(format!("the backup's database {}: {e}", dest.display())))?;
        file.sync_all()
            .map_err(|e| StoreError::Engine(format!("the backup's database {}: {e}", dest.display())))?;
        Ok(counts)
    }
}

/// What a database holds, for a backup's manifest.
fn counts(c: &Connection) -> Result<DatabaseCounts, StoreError> {
    let count = |sql: &str| -> Result<u64, StoreError> {
        Ok(c.query_row(sql, [], |r| r.get::<_, i64>(0))?.max(0) as u64)
    };
    Ok(DatabaseCounts {
        visits: count("SELECT COUNT(*) FROM visits")?,
        agents: count("SELECT COUNT(*) FROM agents")?,
        devices: count("SELECT COUNT(*) FROM devices")?,
        users: count("SELECT COUNT(*) FROM users")?,
        terminals: count(
            "SELECT COUNT(*) FROM (SELECT serial FROM terminals UNION SELECT serial FROM terminal_register)",
        )?,
        blobs_received: count("SELECT COUNT(*) FROM blobs")?,
        blobs_referenced: count("SELECT COUNT(DISTINCT sha256) FROM visit_blobs")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AuditEntry, RegisterRow, Store, UserRole};

    #[tokio::test]
    async fn a_copy_holds_what_the_store_held_and_is_refused_over_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("posfield.db")).unwrap();
        store.put_user("zhou", UserRole::Admin, "hash").await.unwrap();
        let register = RegisterRow {
            serial: "N910000000001".into(),
            state: "installed".into(),
            ..RegisterRow::default()
        };
        store
            .import_register(vec![register], AuditEntry::new(None, "zhou", "import_terminals", "1"))
            .await
            .unwrap();
        let dest = dir.path().join("copy.db");
        let counts = store.backup_to(&dest).unwrap();
        assert_eq!((counts.users, counts.terminals, counts.visits), (1, 1, 0));
        assert!(!dir.path().join("copy.db-wal").exists(), "the copy is one file");
        // The copy opens as a store of its own, holding the user.
        let copy = SqliteStore::open(&dest).unwrap();
        assert!(copy.user("zhou").await.unwrap().is_some());
        let refused = store.backup_to(&dest).unwrap_err().to_string();
        assert!(refused.contains("copy.db"), "{refused}");
    }
}
