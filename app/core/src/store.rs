//! The agent's local SQLite store.
//!
//! One file holds every visit document, the index the visit list reads,
//! settings, sync bookkeeping and the table of blobs. It runs in WAL mode
//! with `synchronous=FULL`: on a phone a dead battery is a power loss, and
//! with NORMAL the last commits before it may roll back. Every write is one
//! transaction, and a method returns only after that transaction is
//! committed, so what the UI shows as saved survives a killed process.
//!
//! A visit document is saved incrementally: the compacted document lives in
//! `visits.doc` and each edit appends the bytes of its new changes to
//! `visit_increments`, in the same transaction that updates the visit's
//! index row, so the list can never disagree with the documents. The
//! increments are folded into the compacted document after 64 of them, and
//! at once when the visit is completed (a sync then sends it as it is).
//!
//! The file is SQLCipher: every page, of the database and of its WAL, is
//! encrypted and authenticated under the store key (`crate::at_rest`), so
//! nothing of a merchant is in clear on the phone's flash. A plain store
//! left by an older version is converted in place when first opened
//! (`Store::encrypt_plain_store`).

use std::path::{Path, PathBuf};

use posfield_shared::visit::{DocError, Visit, VisitDoc};
use posfield_shared::vocab::Term;
use posfield_shared::{CalendarDate, VisitId, VisitKind, VisitStatus};
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use crate::at_rest::StoreKey;

mod embedded {
    #![allow(missing_docs, unreachable_pub)]
    refinery::embed_migrations!("migrations");
}

mod cards;
pub use cards::{DayPlan, JobCard};

/// The migrations that added columns or tables derived from the documents:
/// the follow-up day (4) and the job cards (6).
const DERIVED_MIGRATIONS: [i32; 2] = [4, 6];

/// The setting saying which derived migration's rows were filled from the
/// documents (`6`; `store.follow_up_filled` said 4 was).
const SETTING_DERIVED_FILLED: &str = "store.derived_filled";

/// Increments kept per visit before they are folded into the compacted document.
const COMPACT_AFTER: i64 = 64;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The device's storage is full; nothing was written, earlier data is intact.
    #[error("storage full: free some space on the phone, nothing was lost")]
    StorageFull,
    /// The store file was unreadable; it was moved aside (never deleted).
    #[error("the store at {path} is corrupt and was moved to {moved_to}; a new store will be created")]
    Corrupt {
        /// The store's path.
        path: PathBuf,
        /// Where the corrupt file now is.
        moved_to: PathBuf,
    },
    /// No visit with this id.
    #[error("no visit {0:?} in the store")]
    NotFound(String),
    /// A stored document could not be read.
    #[error("visit {id:?}: {source}")]
    Document {
        /// The visit.
        id: String,
        /// Why.
        #[source]
        source: DocError,
    },
    /// Schema migration failed; the store is unchanged.
    #[error("could not upgrade the store: {0}")]
    Migration(String),
    /// A file system error around the store file.
    #[error("store file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Any other SQLite error.
    #[error("store error: {0}")]
    Sqlite(#[source] rusqlite::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        match error.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => StoreError::StorageFull,
            _ => StoreError::Sqlite(error),
        }
    }
}

/// One line of the visit list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VisitRow {
    /// Visit id.
    pub id: VisitId,
    /// What the visit is for.
    pub kind: VisitKind,
    /// Where the visit stands.
    pub status: VisitStatus,
    /// Merchant name.
    pub merchant: String,
    /// Terminal serial, once identified.
    pub serial: Option<String>,
    /// Assigned agent.
    pub assignee: String,
    /// Device time of the last change, ms since the epoch.
    pub updated_at: i64,
    /// Whether the phone holds changes the server has not confirmed.
    pub unsynced: bool,
    /// The day of its follow-up check (YYYY-MM-DD), when one is set.
    pub follow_up: Option<String>,
}

impl VisitRow {
    /// The row of a visit; its id must be a visit id (every side makes
    /// UUIDs, and a document received by sync is checked before it is stored).
    fn of(visit: &Visit, unsynced: bool) -> Result<VisitRow, StoreError> {
        let updated_at =
            visit.history.iter().map(|h| h.stamp.at.millis()).max().unwrap_or(visit.created.at.millis());
        let id = VisitId::parse(&visit.id).map_err(|error| StoreError::Document {
            id: visit.id.clone(),
            source: DocError::Undecodable(error.to_string()),
        })?;
        Ok(VisitRow {
            id,
            kind: visit.kind,
            status: visit.status,
            merchant: visit.merchant.name.clone(),
            serial: visit.terminal.as_ref().map(|t| t.serial.clone()),
            assignee: visit.assignment.agent.clone(),
            updated_at,
            unsynced,
            follow_up: visit.follow_up.as_ref().map(|f| f.on.to_string()),
        })
    }
}

/// Which visits to list.
#[derive(Debug, Clone, Default)]
pub struct VisitFilter {
    /// Only visits in this status.
    pub status: Option<VisitStatus>,
    /// Only visits with unconfirmed changes.
    pub unsynced_only: bool,
    /// At most this many rows (default 200).
    pub limit: Option<u32>,
    /// Rows updated strictly before this time, for paging.
    pub before: Option<i64>,
    /// Only visits whose follow-up check is on this day: that day's list.
    pub follow_up_on: Option<CalendarDate>,
}

/// The store. Only the `Agent` facade holds one: nothing outside this
/// crate can name it, so the app, the CLI and the tests reach the data
/// through the facade's methods.
#[derive(Debug)]
pub(crate) struct Store {
    conn: Connection,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_owned(), source }
}

/// Whether the file at `path` is a plain SQLite database (an older
/// version's store): its first 16 bytes are SQLite's magic string, which an
/// encrypted store never shows. A missing or empty file is not.
fn is_plain_sqlite(path: &Path) -> Result<bool, StoreError> {
    use std::io::Read;
    let mut head = [0u8; 16];
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_error(path)(e)),
    };
    match file.read_exact(&mut head) {
        Ok(()) => Ok(&head == b"SQLite format 3\0"),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(io_error(path)(e)),
    }
}

/// The tests fill the disk with the failpoint `store::max_page_count`: its
/// argument becomes SQLite's `max_page_count` (which never goes below the
/// file's current size), so SQLite itself fails the writes that need a new
/// page with SQLITE_FULL, as on a full disk, until a larger value lifts the
/// cap. Only the tests compile failpoints in (the `failpoints` feature of
/// `fail`); everywhere else this is always `None`.
fn page_cap_failpoint() -> Option<i64> {
    fail::fail_point!("store::max_page_count", |pages: Option<String>| pages.and_then(|p| p.parse().ok()));
    None
}

/// Whether SQLCipher refused to set the key up (its `PRAGMA key` error),
/// as opposed to a file that is not a database under that key.
fn key_setup_failed(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(e, Some(message))
            if e.code == ErrorCode::Unknown && message.starts_with("An error occurred with PRAGMA key")
    )
}

impl Store {
    /// Opens (creating if needed) the store at `path` under `key` and
    /// upgrades its schema; a plain store from an older version is first
    /// encrypted in place. A file that does not open (damaged, or encrypted
    /// under another key) is moved aside, never deleted, and reported;
    /// opening again creates a new store.
    pub(crate) fn open(path: &Path, key: &StoreKey) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        }
        if is_plain_sqlite(path)? {
            Self::encrypt_plain_store(path, key)?;
        }
        let opened = match Self::open_checked(path, key) {
            // SQLCipher's key set-up has failed once in a whole test run,
            // with many stores opening on parallel threads, on a new empty
            // folder. Nothing is written before the key is set, so the
            // store is opened once more on a fresh connection.
            Err(StoreError::Sqlite(ref e)) if key_setup_failed(e) => {
                std::thread::sleep(std::time::Duration::from_millis(50));
                Self::open_checked(path, key)
            }
            other => other,
        };
        match opened {
            Ok(store) => Ok(store),
            Err(StoreError::Sqlite(e))
                if matches!(
                    e.sqlite_error_code(),
                    Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
                ) =>
            {
                let moved_to = Self::move_aside(path)?;
                Err(StoreError::Corrupt { path: path.to_owned(), moved_to })
            }
            Err(other) => Err(other),
        }
    }

    fn open_checked(path: &Path, key: &StoreKey) -> Result<Store, StoreError> {
        let mut conn = Connection::open(path)?;
        // The wait for a lock first (the key reads the file's first page,
        // which another connection may be writing), then the key: SQLCipher
        // reads nothing before it.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "key", key.pragma_value())?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Migration(format!("journal mode is {mode}, not wal")));
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")?;
        // Touch the schema so a file that is not a database fails here.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get::<_, i64>(0))?;
        let report = embedded::migrations::runner().run(&mut conn).map_err(|e| match e.kind() {
            refinery::error::Kind::Connection(_, source)
                if source
                    .downcast_ref::<rusqlite::Error>()
                    .is_some_and(|s| s.sqlite_error_code() == Some(ErrorCode::DiskFull)) =>
            {
                StoreError::StorageFull
            }
            _ => StoreError::Migration(e.to_string()),
        })?;
        let mut store = Store { conn };
        // A column added to the index is filled from the documents once,
        // after its migration: rows stored before it have none. A setting
        // marks it done, so a fill cut short is done again at the next open.
        let migrated = report.applied_migrations().iter().any(|m| DERIVED_MIGRATIONS.contains(&m.version()));
        let filled = DERIVED_MIGRATIONS[DERIVED_MIGRATIONS.len() - 1].to_string();
        if migrated || store.setting(SETTING_DERIVED_FILLED)?.as_deref() != Some(filled.as_str()) {
            store.fill_derived()?;
            store.set_setting(SETTING_DERIVED_FILLED, &filled)?;
        }
        Ok(store)
    }

    /// Encrypts a plain store (an older version's) in place: the WAL is
    /// folded in, `sqlcipher_export` copies every table, index and the
    /// schema version into `<name>.encrypting`, which is fsynced and then
    /// renamed over the plain file. A crash before the rename leaves the
    /// plain store whole (the half-written copy is discarded next time); after
    /// it, the encrypted store is whole. Nothing is lost either way. The
    /// plain file's old blocks are freed, not overwritten: flash storage
    /// gives no way to reach them reliably (docs/security.md).
    fn encrypt_plain_store(path: &Path, key: &StoreKey) -> Result<(), StoreError> {
        let encrypting = PathBuf::from(format!("{}.encrypting", path.display()));
        match std::fs::remove_file(&encrypting) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&encrypting)(e)),
        }
        {
            let conn = Connection::open(path)?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
            conn.execute(
                "ATTACH DATABASE ?1 AS encrypted KEY ?2",
                params![encrypting.to_string_lossy(), key.pragma_value()],
            )?;
            conn.query_row("SELECT sqlcipher_export('encrypted')", [], |_| Ok(()))?;
            conn.pragma_update(Some("encrypted"), "user_version", version)?;
            conn.execute("DETACH DATABASE encrypted", [])?;
            // Leave WAL mode on the plain file so closing removes its WAL.
            conn.query_row("PRAGMA journal_mode=DELETE", [], |_| Ok(()))?;
        }
        std::fs::File::open(&encrypting).and_then(|f| f.sync_all()).map_err(io_error(&encrypting))?;
        for suffix in ["-wal", "-shm", "-journal"] {
            let side = PathBuf::from(format!("{}{suffix}", path.display()));
            match std::fs::remove_file(&side) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(&side)(e)),
            }
        }
        std::fs::rename(&encrypting, path).map_err(io_error(path))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir).and_then(|f| f.sync_all()).map_err(io_error(dir))?;
        }
        Ok(())
    }

    /// Renames the store and its WAL files to `<name>.corrupt-N`, keeping everything.
    fn move_aside(path: &Path) -> Result<PathBuf, StoreError> {
        let mut n = 1;
        let target = loop {
            let candidate = PathBuf::from(format!("{}.corrupt-{n}", path.display()));
            if !candidate.exists() {
                break candidate;
            }
            n += 1;
        };
        std::fs::rename(path, &target).map_err(io_error(path))?;
        for suffix in ["-wal", "-shm"] {
            let side = PathBuf::from(format!("{}{suffix}", path.display()));
            if side.exists() {
                let side_target = PathBuf::from(format!("{}{suffix}", target.display()));
                std::fs::rename(&side, &side_target).map_err(io_error(&side))?;
            }
        }
        Ok(target)
    }

    /// Saves a visit document: a new visit is stored whole, a known one gets
    /// its new changes appended. The index row is updated in the same
    /// transaction. Returns after the commit is durable.
    ///
    /// Several `Store`s may hold the same file (the app and its background
    /// sync each have one): when the stored visit has changes this copy of
    /// the document has not seen, they are merged in first, under the write
    /// lock, so the index row and heads always describe everything stored.
    pub(crate) fn save_visit(&mut self, doc: &mut VisitDoc) -> Result<VisitRow, StoreError> {
        self.save_visit_then(doc, |_, _| Ok(()))
    }

    /// [`Store::save_visit`], with `then` writing more in the same
    /// transaction, given the visit as saved.
    fn save_visit_then(
        &mut self,
        doc: &mut VisitDoc,
        then: impl FnOnce(&rusqlite::Transaction<'_>, &Visit) -> Result<(), StoreError>,
    ) -> Result<VisitRow, StoreError> {
        if let Some(pages) = page_cap_failpoint() {
            self.conn.pragma_update_and_check(None, "max_page_count", pages, |row| row.get::<_, i64>(0))?;
        }
        let id = doc.visit().map_err(|source| StoreError::Document { id: String::new(), source })?.id;
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let known: Option<(i64, String)> = tx
            .query_row(
                "SELECT COALESCE((SELECT max(seq) FROM visit_increments WHERE visit_id = ?1), 0), heads
                 FROM visits WHERE id = ?1",
                [&id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((_, stored_heads)) = &known {
            let stored_heads: Vec<String> =
                stored_heads.split(',').filter(|h| !h.is_empty()).map(str::to_owned).collect();
            if !doc.contains_heads(&stored_heads) {
                let document = |source| StoreError::Document { id: id.clone(), source };
                let mut stored = VisitDoc::load(&read_visit_bytes(&tx, &id)?).map_err(document)?;
                doc.merge(&mut stored).map_err(document)?;
            }
        }
        let visit = doc.visit().map_err(|source| StoreError::Document { id: id.clone(), source })?;
        let row = VisitRow::of(&visit, true)?;
        let heads = posfield_shared::protocol::join_heads(&doc.heads());
        let known = known.map(|(seq, _)| seq);
        match known {
            None => {
                let bytes = doc.save();
                tx.execute(
                    "INSERT INTO visits (id, doc, kind, status, merchant, serial, assignee, updated_at, unsynced,
                        follow_up)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9)",
                    params![
                        row.id.as_str(),
                        bytes,
                        row.kind.code(),
                        row.status.code(),
                        row.merchant,
                        row.serial,
                        row.assignee,
                        row.updated_at,
                        row.follow_up
                    ],
                )?;
                tx.execute("UPDATE visits SET heads = ?2 WHERE id = ?1", params![row.id.as_str(), heads])?;
            }
            Some(last_seq) => {
                let increment = doc.save_incremental();
                if !increment.is_empty() {
                    tx.execute(
                        "INSERT INTO visit_increments (visit_id, seq, bytes) VALUES (?1, ?2, ?3)",
                        params![row.id.as_str(), last_seq + 1, increment],
                    )?;
                }
                tx.execute(
                    "UPDATE visits SET kind = ?2, status = ?3, merchant = ?4, serial = ?5, assignee = ?6,
                     updated_at = ?7, unsynced = 1, follow_up = ?8 WHERE id = ?1",
                    params![
                        row.id.as_str(),
                        row.kind.code(),
                        row.status.code(),
                        row.merchant,
                        row.serial,
                        row.assignee,
                        row.updated_at,
                        row.follow_up
                    ],
                )?;
                tx.execute("UPDATE visits SET heads = ?2 WHERE id = ?1", params![row.id.as_str(), heads])?;
                // A completed visit is compacted at once: it is what a sync
                // sends whole, and the phone has the time now, not then.
                let completed = row.status == VisitStatus::Completed;
                if last_seq + 1 >= COMPACT_AFTER || completed {
                    let full = doc.save();
                    tx.execute("UPDATE visits SET doc = ?2 WHERE id = ?1", params![row.id.as_str(), full])?;
                    tx.execute("DELETE FROM visit_increments WHERE visit_id = ?1", [row.id.as_str()])?;
                }
            }
        }
        cards::write_card(&tx, &visit, row.updated_at)?;
        then(&tx, &visit)?;
        tx.commit()?;
        Ok(row)
    }

    /// Loads a visit document: the compacted bytes followed by its increments.
    pub(crate) fn load_visit(&self, id: &str) -> Result<VisitDoc, StoreError> {
        let bytes = self.visit_bytes(id)?;
        VisitDoc::load(&bytes).map_err(|source| StoreError::Document { id: id.to_owned(), source })
    }

    /// The raw saved bytes of a visit (compacted document and increments).
    pub(crate) fn visit_bytes(&self, id: &str) -> Result<Vec<u8>, StoreError> {
        read_visit_bytes(&self.conn, id)
    }

    /// A visit as one saved document, for a server that does not have it:
    /// the stored document as it is when no increments follow it, else
    /// compacted (without reading the visit in it; not stored back).
    pub(crate) fn visit_saved_whole(&self, id: &str) -> Result<Vec<u8>, StoreError> {
        let increments: i64 =
            self.conn
                .query_row("SELECT count(*) FROM visit_increments WHERE visit_id = ?1", [id], |r| r.get(0))?;
        let bytes = read_visit_bytes(&self.conn, id)?;
        if increments == 0 {
            return Ok(bytes);
        }
        VisitDoc::compacted(&bytes).map_err(|source| StoreError::Document { id: id.to_owned(), source })
    }

    /// The stored heads of a visit (sorted, comma separated), or `None` for
    /// a visit not stored; empty for rows from before schema version 2.
    pub(crate) fn stored_heads(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self.conn.query_row("SELECT heads FROM visits WHERE id = ?1", [id], |r| r.get(0)).optional()?)
    }

    /// The visit list, newest first.
    pub(crate) fn list_visits(&self, filter: &VisitFilter) -> Result<Vec<VisitRow>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT id, kind, status, merchant, serial, assignee, updated_at, unsynced, follow_up FROM visits
             WHERE (?1 IS NULL OR status = ?1) AND (?2 = 0 OR unsynced = 1) AND (?3 IS NULL OR updated_at < ?3)
               AND (?5 IS NULL OR follow_up = ?5)
             ORDER BY updated_at DESC, id LIMIT ?4",
        )?;
        let rows = statement.query_map(
            params![
                filter.status.map(Term::code),
                filter.unsynced_only,
                filter.before,
                filter.limit.unwrap_or(200),
                filter.follow_up_on.map(|d| d.to_string())
            ],
            |r| {
                Ok(VisitRow {
                    id: column(r, 0, |text| VisitId::parse(text).ok())?,
                    kind: column(r, 1, VisitKind::from_code)?,
                    status: column(r, 2, VisitStatus::from_code)?,
                    merchant: r.get(3)?,
                    serial: r.get(4)?,
                    assignee: r.get(5)?,
                    updated_at: r.get(6)?,
                    unsynced: r.get(7)?,
                    follow_up: r.get(8)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Fills what the index derives from each stored document: the
    /// follow-up day and the job card.
    fn fill_derived(&mut self) -> Result<(), StoreError> {
        let ids: Vec<String> = {
            let mut statement = self.conn.prepare("SELECT id FROM visits")?;
            statement.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
        };
        // One transaction: one durable commit for every row, not one each.
        let tx = self.conn.unchecked_transaction()?;
        for id in ids {
            // A document that does not read is left as it is: the visit is
            // shown as damaged where it is opened, and opening the store
            // must not fail for it.
            let Ok(visit) = self.load_visit(&id).and_then(|doc| {
                doc.visit().map_err(|source| StoreError::Document { id: id.clone(), source })
            }) else {
                continue;
            };
            let Ok(row) = VisitRow::of(&visit, true) else {
                continue;
            };
            tx.execute("UPDATE visits SET follow_up = ?2 WHERE id = ?1", params![id, row.follow_up])?;
            cards::write_card(&tx, &visit, row.updated_at)?;
            tx.execute(
                "UPDATE visit_cards SET unsynced = (SELECT unsynced FROM visits WHERE visits.id = ?1) WHERE id = ?1",
                [&id],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Number of visits stored.
    pub(crate) fn visit_count(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("SELECT count(*) FROM visits", [], |r| r.get(0))?)
    }

    /// Whether the visit holds changes the server has not confirmed.
    pub(crate) fn is_unsynced(&self, id: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row("SELECT unsynced FROM visits WHERE id = ?1", [id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| StoreError::NotFound(id.to_owned()))
    }

    /// Number of visits with changes the server has not confirmed.
    pub(crate) fn unsynced_count(&self) -> Result<usize, StoreError> {
        let count: i64 =
            self.conn.query_row("SELECT count(*) FROM visits WHERE unsynced = 1", [], |r| r.get(0))?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// Visits whose index row disagrees with their document (always empty
    /// unless something outside this module wrote to the file).
    pub(crate) fn index_mismatches(&self) -> Result<Vec<String>, StoreError> {
        let ids: Vec<(String, bool)> = {
            let mut statement = self.conn.prepare("SELECT id, unsynced FROM visits ORDER BY id")?;
            statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?
        };
        let rows = self.list_visits(&VisitFilter { limit: Some(u32::MAX), ..VisitFilter::default() })?;
        let mut mismatches = Vec::new();
        for (id, unsynced) in ids {
            let visit = self
                .load_visit(&id)?
                .visit()
                .map_err(|source| StoreError::Document { id: id.clone(), source })?;
            let expected = VisitRow::of(&visit, unsynced)?;
            if rows.iter().find(|r| r.id == id) != Some(&expected)
                || cards::card_differs(&self.conn, &visit, expected.updated_at, unsynced)?
            {
                mismatches.push(id);
            }
        }
        Ok(mismatches)
    }

    /// Marks a visit as confirmed by the server at `heads` (sync
    /// bookkeeping). With `photos_wait` only its document is: the visit
    /// stays unsynced, its photos held for Wi-Fi, until a later sync
    /// confirms it whole.
    pub(crate) fn mark_synced(
        &mut self,
        id: &str,
        heads: &[String],
        at: i64,
        photos_wait: bool,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        if !photos_wait {
            tx.execute("UPDATE visits SET unsynced = 0 WHERE id = ?1", [id])?;
            tx.execute("UPDATE visit_cards SET unsynced = 0 WHERE id = ?1", [id])?;
        }
        tx.execute(
            "INSERT INTO sync_docs (visit_id, server_heads, last_synced_at, photos_wait) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (visit_id) DO UPDATE SET server_heads = ?2, last_synced_at = ?3, photos_wait = ?4",
            params![id, heads.join(","), at, photos_wait],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Unsynced visits whose document the server holds as the phone does,
    /// waiting only for their photos (held for Wi-Fi): an edit since
    /// changes the visit's heads, and it counts as waiting to sync again.
    pub(crate) fn visits_waiting_for_photos(&self) -> Result<Vec<String>, StoreError> {
        // CROSS JOIN keeps the few rows of the partial index outermost
        // (SQLite does not reorder it): the status is read often, and a
        // store of thousands of visits is not walked for it.
        let mut statement = self.conn.prepare_cached(
            "SELECT v.id FROM sync_docs s CROSS JOIN visits v ON v.id = s.visit_id
             WHERE s.photos_wait = 1 AND v.unsynced = 1 AND s.server_heads = v.heads ORDER BY v.id",
        )?;
        let ids = statement.query_map([], |r| r.get(0))?;
        Ok(ids.collect::<Result<_, _>>()?)
    }

    /// Adds what a sync counted (by visit id, `usage::OTHER` for the rest)
    /// to the stored data usage, in one transaction.
    pub(crate) fn add_data_usage(
        &mut self,
        counted: &std::collections::BTreeMap<String, crate::usage::Traffic>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for (visit_id, traffic) in counted {
            let (sent, received) = (clamp(traffic.sent), clamp(traffic.received));
            tx.execute(
                "INSERT INTO data_usage (visit_id, sent, received) VALUES (?1, ?2, ?3)
                 ON CONFLICT (visit_id) DO UPDATE SET sent = sent + ?2, received = received + ?3",
                params![visit_id, sent, received],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Everything the syncs used, visits and the rest.
    pub(crate) fn data_usage_total(&self) -> Result<crate::usage::Traffic, StoreError> {
        let (sent, received): (i64, i64) = self.conn.query_row(
            "SELECT COALESCE(sum(sent), 0), COALESCE(sum(received), 0) FROM data_usage",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(crate::usage::Traffic { sent: count(sent), received: count(received) })
    }

    /// The data every visit's syncs used, with the visit's merchant and
    /// kind while it is on the phone.
    pub(crate) fn data_usage(&self) -> Result<crate::usage::DataUsage, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT u.visit_id, v.merchant, v.kind, u.sent, u.received
             FROM data_usage u LEFT JOIN visits v ON v.id = u.visit_id",
        )?;
        let rows = statement.query_map([], |r| {
            let count = |index: usize| r.get::<_, i64>(index).map(|n| u64::try_from(n).unwrap_or(0));
            let traffic = crate::usage::Traffic { sent: count(3)?, received: count(4)? };
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, traffic))
        })?;
        Ok(crate::usage::DataUsage::of(rows.collect::<Result<_, _>>()?))
    }

    /// Every visit's id and current heads (sorted, comma separated): what
    /// the sync manifest is built from. Heads missing from rows saved before
    /// schema version 2 are computed and stored.
    pub(crate) fn sync_manifest(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        let rows: Vec<(String, String)> = {
            let mut statement = self.conn.prepare_cached("SELECT id, heads FROM visits ORDER BY id")?;
            statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?
        };
        let mut out = Vec::with_capacity(rows.len());
        for (id, heads) in rows {
            let heads = if heads.is_empty() {
                let heads = posfield_shared::protocol::join_heads(&self.load_visit(&id)?.heads());
                self.conn.execute("UPDATE visits SET heads = ?2 WHERE id = ?1", params![id, heads])?;
                heads
            } else {
                heads
            };
            out.push((id, heads));
        }
        Ok(out)
    }

    /// Merges a document received from the server into the stored visit (or
    /// stores it, for a visit new to this phone). Returns the visit's heads
    /// afterwards.
    pub(crate) fn merge_remote(
        &mut self,
        id: &str,
        bytes: &[u8],
        at: i64,
    ) -> Result<Vec<String>, StoreError> {
        let document = |source| StoreError::Document { id: id.to_owned(), source };
        let mut remote = VisitDoc::load(bytes).map_err(document)?;
        let (mut doc, before) = match self.load_visit(id) {
            Ok(mut local) => {
                // What the phone held, for the news; a copy that no longer
                // reads gives none.
                let before = local.visit().ok();
                local.merge(&mut remote).map_err(document)?;
                (local, before)
            }
            Err(StoreError::NotFound(_)) => (remote, None),
            Err(other) => return Err(other),
        };
        // Damaged or mixed bytes never reach the store: the merged document
        // must reload from its own save, and hold one visit.
        doc.reloads_identically().map_err(document)?;
        if doc.has_conflicting_id() {
            return Err(StoreError::Document {
                id: id.to_owned(),
                source: DocError::Undecodable("the document holds more than one visit".into()),
            });
        }
        let visit = doc.visit().map_err(document)?;
        if visit.id != id {
            return Err(StoreError::Document {
                id: id.to_owned(),
                source: posfield_shared::visit::DocError::Undecodable(format!(
                    "the document is visit {}",
                    visit.id
                )),
            });
        }
        self.save_visit_then(&mut doc, |tx, after| Ok(crate::news::record(tx, before.as_ref(), after, at)?))?;
        let mut heads = doc.heads();
        heads.sort();
        Ok(heads)
    }

    /// The newest news, at most `limit`.
    pub(crate) fn news(&self, limit: u32) -> Result<Vec<crate::news::News>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT id, visit_id, kind, merchant, detail, at, seen FROM news ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = statement.query_map([limit], |r| {
            Ok(crate::news::News {
                id: r.get(0)?,
                visit_id: r.get(1)?,
                kind: column(r, 2, crate::news::NewsKind::from_code)?,
                merchant: r.get(3)?,
                detail: r.get(4)?,
                at: r.get(5)?,
                seen: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many pieces of news the agent has not seen.
    pub(crate) fn unseen_news(&self) -> Result<u64, StoreError> {
        let unseen: i64 =
            self.conn.query_row("SELECT count(*) FROM news WHERE seen = 0", [], |r| r.get(0))?;
        Ok(u64::try_from(unseen).unwrap_or(0))
    }

    /// Marks every piece of news up to `through` (its id) as seen.
    pub(crate) fn mark_news_seen(&mut self, through: i64) -> Result<(), StoreError> {
        self.conn.execute("UPDATE news SET seen = 1 WHERE seen = 0 AND id <= ?1", [through])?;
        Ok(())
    }

    /// Whether the server has confirmed it holds a blob.
    pub(crate) fn blob_confirmed(&self, sha256: &str) -> Result<bool, StoreError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM blobs WHERE sha256 = ?1 AND upload_state = 2)",
            [sha256],
            |r| r.get(0),
        )?)
    }

    /// Records that an upload of a blob is starting, unless one started
    /// before or the server confirmed it; returns whether one started
    /// before (a kill or a lost signal may have cut it part way: the next
    /// upload asks the server how much it holds before sending anything).
    pub(crate) fn blob_upload_starting(
        &mut self,
        sha256: &str,
        bytes: u64,
        at: i64,
    ) -> Result<bool, StoreError> {
        let tx = self.conn.transaction()?;
        let state: Option<i64> = tx
            .query_row("SELECT upload_state FROM blobs WHERE sha256 = ?1", [sha256], |r| r.get(0))
            .optional()?;
        if state.is_none() {
            tx.execute(
                "INSERT INTO blobs (sha256, mime, bytes, created_at, upload_state, uploaded_bytes)
                 VALUES (?1, 'application/octet-stream', ?2, ?3, 1, 0)",
                params![sha256, clamp(bytes), at],
            )?;
        } else if state == Some(0) {
            tx.execute("UPDATE blobs SET upload_state = 1 WHERE sha256 = ?1", [sha256])?;
        }
        tx.commit()?;
        Ok(state.is_some_and(|state| state >= 1))
    }

    /// Records that the server holds a blob whole and verified.
    pub(crate) fn mark_blob_confirmed(
        &mut self,
        sha256: &str,
        bytes: u64,
        at: i64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO blobs (sha256, mime, bytes, created_at, upload_state, uploaded_bytes)
             VALUES (?1, 'application/octet-stream', ?2, ?3, 2, ?2)
             ON CONFLICT (sha256) DO UPDATE SET upload_state = 2, uploaded_bytes = ?2",
            params![sha256, bytes as i64, at],
        )?;
        Ok(())
    }

    /// A setting, if set.
    pub(crate) fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// Sets a setting durably.
    pub(crate) fn set_setting(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.set_settings(&[(key, value)])
    }

    /// Sets several settings durably in one transaction: all or none (a new
    /// credential and its expiry, an enrolment).
    pub(crate) fn set_settings(&mut self, settings: &[(&str, &str)]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for (key, value) in settings {
            tx.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
                params![key, value],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Runs SQLite's full integrity check; `Ok` when it says "ok".
    pub(crate) fn integrity_check(&self) -> Result<(), StoreError> {
        let result: String = self.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if result == "ok" { Ok(()) } else { Err(StoreError::Migration(format!("integrity check: {result}"))) }
    }

    /// Writes a consistent copy of the store to `target` with `VACUUM INTO`,
    /// safe while other writes go on; the live files are never touched.
    pub(crate) fn backup_to(&self, target: &Path) -> Result<(), StoreError> {
        if target.exists() {
            return Err(StoreError::Io {
                path: target.to_owned(),
                source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "backup target exists"),
            });
        }
        self.conn.execute("VACUUM INTO ?1", [target.to_string_lossy()])?;
        Ok(())
    }

    #[cfg(test)]
    /// The journal mode and `synchronous` level in force (expected: `wal`, 2 = FULL).
    pub(crate) fn durability(&self) -> Result<(String, i64), StoreError> {
        let mode: String = self.conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        let synchronous: i64 = self.conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
        Ok((mode, synchronous))
    }

    #[cfg(test)]
    /// The current schema version (the highest applied migration).
    pub(crate) fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(max(version), 0) FROM refinery_schema_history", [], |r| r.get(0))?)
    }
}

/// A byte count as SQLite's signed integer (no phone sends 8 EiB).
fn clamp(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

/// A text column of the visit list read as a typed value. The row is only
/// ever written from a typed visit, so a value that does not read back means
/// the file was changed behind the store's back: an error, never a guess.
fn column<T>(row: &rusqlite::Row<'_>, index: usize, read: impl Fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    read(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            format!("{text:?} in the visit list is not a known value").into(),
        )
    })
}

/// The saved bytes of a visit: its compacted document and increments.
fn read_visit_bytes(conn: &rusqlite::Connection, id: &str) -> Result<Vec<u8>, StoreError> {
    let mut bytes: Vec<u8> = conn
        .query_row("SELECT doc FROM visits WHERE id = ?1", [id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
    let mut statement =
        conn.prepare_cached("SELECT bytes FROM visit_increments WHERE visit_id = ?1 ORDER BY seq")?;
    let increments = statement.query_map([id], |r| r.get::<_, Vec<u8>>(0))?;
    for increment in increments {
        bytes.extend(increment?);
    }
    Ok(bytes)
}

#[cfg(test)]
mod kill;
#[cfg(test)]
mod tests;
