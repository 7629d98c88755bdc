//! `posfield-server migrate`: an embedded install (the data folder's
//! SQLite file and blob folder) moved to PostgreSQL and, when asked, to an
//! S3-compatible bucket, then verified.
//!
//! The SQLite file is held under its exclusive lock from start to end, so
//! no server runs on it meanwhile (a running server makes the migration
//! refuse). The rows go into the new database in one transaction that is
//! committed only after every table's count and every blob's hash was
//! checked: a failure leaves the database as it was. The blobs are put in
//! the bucket as they are stored (sealed) before that commit; a failure
//! leaves them there, which is harmless, as objects are named by their
//! hash and a second run puts the same bytes. The data folder is only
//! read: rolling back is starting the old server on it.

use std::path::Path;
use std::time::{Duration, Instant};

use posfield_shared::BlobHash;
use sha2::{Digest, Sha256};

use crate::blob_key;
use crate::blobs::s3::{S3Blobs, S3Config, S3ConfigError, S3Error};
use crate::blobs::{BLOB_FOLDER, BlobDir, BlobError};
use crate::config::{Config, DatabaseUrl};
use crate::store::StoreError;
use crate::store::postgres::PostgresStore;
use crate::store::rows::{TABLES, Value};
use crate::store::sqlite::SqliteExport;

/// Rows read and written at a time.
const PAGE_ROWS: usize = 500;

/// Why a migration stopped; nothing was committed to the database.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The data folder holds no database.
    #[error("the data folder {0} holds no database (posfield.db): nothing to migrate")]
    NoDatabase(String),
    /// The target is not a PostgreSQL URL.
    #[error("--to takes a postgres:// URL, not {0:?}")]
    NotPostgres(String),
    /// A database could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bucket's address or credentials.
    #[error(transparent)]
    Bucket(#[from] S3ConfigError),
    /// The blob keys could not be read.
    #[error(transparent)]
    Keys(#[from] blob_key::KeyError),
    /// A blob could not be read.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// A blob could not be put in the bucket.
    #[error(transparent)]
    Put(#[from] S3Error),
    /// A table's rows differ in number after the copy.
    #[error("table {table}: {source_rows} rows in SQLite but {target_rows} in PostgreSQL")]
    Count {
        /// The table.
        table: String,
        /// Its rows in the SQLite file.
        source_rows: u64,
        /// Its rows in the new database.
        target_rows: u64,
    },
    /// A blob read back does not have its name's hash.
    #[error("blob {sha} reads back from the {engine} with the SHA-256 {actual}")]
    Hash {
        /// The blob.
        sha: String,
        /// Which engine read it.
        engine: &'static str,
        /// What it hashed to.
        actual: String,
    },
    /// The `blobs` table names a blob the blob folder does not hold.
    #[error("the database counts blob {0} but the blob folder does not hold it")]
    Missing(String),
}

/// What a migration copied and checked.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Each table and its rows, in copying order.
    pub tables: Vec<(String, u64)>,
    /// Blobs checked (and, with a bucket, copied) and their plain bytes.
    pub blobs: usize,
    /// The blobs' plain bytes.
    pub blob_bytes: u64,
    /// Whether the blobs went to a bucket (else they stay in the data folder).
    pub bucket: Option<String>,
    /// How long it took.
    pub elapsed: Duration,
}

impl Summary {
    /// Rows copied over every table.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// Moves the embedded install of `config`'s data folder to the database at
/// `to` and, with `bucket`, its blobs to that bucket (credentials from the
/// environment, as for `serve`); see the module's comment.
pub async fn run(
    config: &Config,
    to: &DatabaseUrl,
    bucket: Option<&S3Config>,
) -> Result<Summary, MigrateError> {
    let started = Instant::now();
    let scheme = to.secret().split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
    if !matches!(scheme.as_deref(), Some("postgres" | "postgresql")) {
        return Err(MigrateError::NotPostgres(to.shown()));
    }
    let database = config.data.join("posfield.db");
    if !database.is_file() {
        return Err(MigrateError::NoDatabase(config.data.display().to_string()));
    }
    let source = SqliteExport::open(&database)?;
    source.tables().await?;
    let blob_folder = config.data.join(BLOB_FOLDER);
    let local = open_folder(&config.data, &blob_folder, config)?;
    let bucket = match bucket {
        Some(s3) => {
            let keys = blob_key::load(&config.data, &blob_folder)?;
            let credentials = crate::blobs::s3::credentials_from_env()?;
            Some(S3Blobs::open(s3, credentials, keys, config.max_blob_bytes)?)
        }
        None => None,
    };
    let target = PostgresStore::open_with_ca(to.secret(), 2, config.database_ca.as_deref()).await?;
    let import = target.import().await?;
    let mut summary =
        Summary { bucket: bucket.as_ref().map(|b| b.bucket().to_owned()), ..Summary::default() };
    let mut counted_blobs = Vec::new();
    for table in TABLES {
        let mut after = 0;
        let mut copied = 0u64;
        loop {
            let page = source.page(table, after, PAGE_ROWS).await?;
            if *table == "blobs" {
                let sha = page.columns.iter().position(|c| c == "sha256");
                for row in &page.rows {
                    if let Some(Value::Text(sha)) = sha.and_then(|i| row.get(i)) {
                        counted_blobs.push(sha.clone());
                    }
                }
            }
            import.insert(table, &page.columns, &page.rows).await?;
            copied += page.rows.len() as u64;
            match page.next {
                Some(next) => after = next,
                None => break,
            }
        }
        tracing::info!(table, rows = copied, "copied");
        summary.tables.push(((*table).to_owned(), copied));
    }
    import.restart_identities().await?;
    for table in TABLES {
        let (source_rows, target_rows) = (source.count(table).await?, import.count(table).await?);
        if source_rows != target_rows {
            return Err(MigrateError::Count { table: (*table).to_owned(), source_rows, target_rows });
        }
    }
    let stored = match local.clone() {
        Some(local) => tokio::task::spawn_blocking(move || local.stored())
            .await
            .map_err(|_| MigrateError::Store(StoreError::Cancelled))?,
        None => Vec::new(),
    };
    // `stored` is sorted by name.
    let held = |sha: &String| stored.binary_search_by(|s| s.as_str().cmp(sha.as_str())).is_ok();
    if let Some(missing) = counted_blobs.iter().find(|sha| !held(sha)) {
        return Err(MigrateError::Missing(missing.clone()));
    }
    if let Some(local) = &local {
        for sha in &stored {
            let plain = local.read(sha).await?;
            check_hash(sha, "blob folder", &plain)?;
            if let Some(bucket) = &bucket {
                bucket.put_stored(sha, local.read_stored(sha).await?).await?;
                let back = bucket.read(sha).await?;
                check_hash(sha, "bucket", &back)?;
            }
            summary.blobs += 1;
            summary.blob_bytes += plain.len() as u64;
        }
    }
    import.commit().await?;
    drop(source);
    // Planned on what the tables now hold from the first request on.
    crate::store::Store::after_bulk_load(&target).await?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// The data folder's blob folder, read with its keys (neither made when missing).
fn open_folder(data: &Path, blob_folder: &Path, config: &Config) -> Result<Option<BlobDir>, MigrateError> {
    if !blob_folder.is_dir() {
        return Ok(None);
    }
    let keys = blob_key::load(data, blob_folder)?;
    BlobDir::open(blob_folder, keys, config.blob_encryption, config.max_blob_bytes).map(Some).map_err(
        |source| {
            MigrateError::Store(StoreError::Engine(format!(
                "the blob folder {} cannot be opened: {source}",
                blob_folder.display()
            )))
        },
    )
}

/// Checks that `plain`, read from `engine`, hashes to `sha`.
fn check_hash(sha: &BlobHash, engine: &'static str, plain: &[u8]) -> Result<(), MigrateError> {
    let actual = hex::encode(Sha256::digest(plain));
    if actual != sha.as_str() {
        return Err(MigrateError::Hash { sha: sha.as_str().to_owned(), engine, actual });
    }
    Ok(())
}
