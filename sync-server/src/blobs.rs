//! Blobs (photos, signature images and strokes): content-addressed files,
//! uploaded resumably and verified before they count.
//!
//! `PUT /api/v1/blobs/{sha256}?offset=N` with header `x-blob-size: TOTAL`
//! appends the body at byte `N` of a partial file. When the partial file
//! reaches TOTAL bytes its SHA-256 is checked: a match is fsynced and renamed
//! into place, a mismatch is deleted and refused. A cut upload resumes from
//! `GET /api/v1/blobs/{sha256}/status` (`received` bytes).
//!
//! A partial upload is its uploader's: it lives under a folder named for
//! the uploading agent, so another agent's request for the same hash
//! writes (and, when it fails, deletes) only its own partial file. Whether
//! an agent may learn that a whole blob is stored is the caller's to say
//! (the agent uploaded it, or a visit it reaches refers to it); otherwise
//! it sees its own partial upload, and proves it has the bytes by sending
//! them. Uploads no visit refers to are collected after a grace period
//! ([`collect_unreferenced`]).
//!
//! At rest a whole blob is sealed with the blob key ([`crate::blob_key`]):
//! its file under `xx/<sha256>` holds the sealed format, and the hash in
//! its name stays the SHA-256 of the plain bytes, which is what the phone
//! sent and what documents refer to. Only a partial upload in progress is
//! plain; when it is whole and verified it is sealed into place and the
//! partial file removed. Every read of a stored blob goes through
//! [`BlobDir::read`], which opens a sealed file and checks a plain one
//! (from a server before sealing, or with `blob_encryption` off) against
//! its hash: a file that does neither is an error, never served.
//! [`BlobDir::seal_stored`] seals the plain files an older server left.
//!
//! Two engines keep the blobs, behind one interface, [`Blobs`]: the local
//! folder ([`BlobDir`], the default) and an S3-compatible bucket
//! ([`s3::S3Blobs`]), chosen by the `blobs` setting ([`BlobStorage`]). The
//! upload protocol, the hash check, the size limits, the seal and the reads
//! that open or check it are the same on both; what differs is where a
//! partial upload lives (see [`s3`]).

pub mod s3;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use posfield_shared::BlobHash;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::blob_key::{BlobKeys, OVERHEAD, OpenError};
use crate::error::ApiError;
use crate::files::{WRITING_MARK, write_durably};

/// The blob folder's name in the data folder.
pub const BLOB_FOLDER: &str = "blobs";

/// The blob folder.
#[derive(Debug, Clone)]
pub struct BlobDir {
    root: PathBuf,
    keys: Arc<BlobKeys>,
    /// Whether new blobs (and thumbnails) are sealed.
    seal: bool,
    /// The largest blob, in plain bytes: no larger file is read.
    max_bytes: u64,
}

/// Why a stored blob cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No file holds it.
    #[error("blob {0} is not stored")]
    Missing(BlobHash),
    /// Its file is larger than any blob may be: it is not read.
    #[error(
        "blob {sha} is {len} bytes on disk, more than a blob of at most {max} bytes takes; it is not read"
    )]
    TooLarge {
        /// The blob.
        sha: BlobHash,
        /// The file's length.
        len: u64,
        /// The limit on a blob's plain bytes.
        max: u64,
    },
    /// A sealed file that does not open.
    #[error("blob {sha} does not open: {reason}")]
    Sealed {
        /// The blob.
        sha: BlobHash,
        /// Why.
        #[source]
        reason: OpenError,
    },
    /// Neither sealed nor the plain bytes its name says.
    #[error("blob {sha} is neither sealed nor its plain bytes (they hash to {actual}); it is not served")]
    Damaged {
        /// The blob.
        sha: BlobHash,
        /// The hash of what the file holds.
        actual: String,
    },
    /// The bucket of the S3 engine failed or could not be reached.
    #[error("blob {sha}: {source}")]
    Storage {
        /// The blob.
        sha: BlobHash,
        /// What failed (boxed: it is large, and rare).
        #[source]
        source: Box<s3::S3Error>,
    },
    /// The file could not be read.
    #[error("blob {sha}: {source}")]
    Io {
        /// The blob.
        sha: BlobHash,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
}

/// What [`BlobDir::seal_stored`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SealReport {
    /// Plain blobs sealed in place.
    pub sealed: usize,
    /// Plain files left as they were: their bytes do not match their name.
    pub damaged: usize,
    /// Plain copies removed: partial uploads whose blob is stored whole,
    /// and thumbnails kept before sealing.
    pub plain_copies_removed: usize,
    /// Temporary files of writes a crash interrupted, removed.
    pub leftovers_removed: usize,
}

/// A temporary file this much older than now, in seconds, belongs to no
/// write still running.
const LEFTOVER_AGE_SECS: u64 = 3600;

/// Where an upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UploadStatus {
    /// Whether the blob is stored and verified.
    pub complete: bool,
    /// Bytes received so far.
    pub received: u64,
}

/// Checks a path segment is a lowercase SHA-256 hex digest: the only way
/// to a [`BlobHash`], and so to a path in the blob folder.
pub fn check_sha(sha: &str) -> Result<BlobHash, ApiError> {
    BlobHash::parse(sha).map_err(|_| {
        ApiError::bad_request("bad_blob_id", format!("{sha:?} is not a lowercase SHA-256 hex digest"))
    })
}

/// Where the blobs are kept: the `blobs` setting (TOML `blobs`, env
/// `POSFIELD_BLOBS`, `serve --blobs`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum BlobStorage {
    /// The blob folder in the data folder (the default; also `local`).
    #[default]
    Local,
    /// An S3-compatible bucket:
    /// `s3://BUCKET[/PREFIX]?endpoint=https://...&region=...&path_style=true`.
    S3(s3::S3Config),
}

impl BlobStorage {
    /// The setting's text: `local`, or an `s3://` address ([`s3::S3Config::parse`]).
    pub fn parse(text: &str) -> Result<BlobStorage, s3::S3ConfigError> {
        match text.trim() {
            "" | "local" => Ok(BlobStorage::Local),
            other => Ok(BlobStorage::S3(s3::S3Config::parse(other)?)),
        }
    }
}

/// The blobs, on one of two engines.
///
/// An enum rather than a trait object: the engines are a closed set the
/// configuration picks from, their methods are `async` (an enum keeps the
/// futures unboxed, with no `async_trait`), and what only one engine has
/// (sealing an older server's plain folder, the local paths tests look
/// at) stays on that engine instead of widening the shared interface.
#[derive(Debug, Clone)]
pub enum Blobs {
    /// The local folder.
    Local(BlobDir),
    /// An S3-compatible bucket.
    S3(s3::S3Blobs),
}

impl Blobs {
    /// Where an upload stands for `uploader` (see [`BlobDir::status`]); an
    /// engine that cannot be reached is an error (`503 storage_unavailable`).
    pub async fn status(
        &self,
        sha: &BlobHash,
        uploader: &str,
        known: bool,
    ) -> Result<UploadStatus, ApiError> {
        match self {
            Blobs::Local(dir) => Ok(dir.status(sha, uploader, known).await),
            Blobs::S3(bucket) => Ok(bucket.status(sha, uploader, known).await?),
        }
    }

    /// Appends `body` at `offset` of `uploader`'s upload of a `total`-byte
    /// blob and, at the end, verifies and stores it (see [`BlobDir::append`]).
    #[allow(clippy::too_many_arguments)]
    pub async fn append(
        &self,
        sha: &BlobHash,
        uploader: &str,
        known: bool,
        offset: u64,
        total: u64,
        max_bytes: u64,
        body: axum::body::BodyDataStream,
    ) -> Result<UploadStatus, ApiError> {
        match self {
            Blobs::Local(dir) => dir.append(sha, uploader, known, offset, total, max_bytes, body).await,
            Blobs::S3(bucket) => bucket.append(sha, uploader, known, offset, total, max_bytes, body).await,
        }
    }

    /// The plain bytes of stored blob `sha`, opened or checked: the one way
    /// a stored blob is read, on either engine.
    pub async fn read(&self, sha: &BlobHash) -> Result<Vec<u8>, BlobError> {
        match self {
            Blobs::Local(dir) => dir.read(sha).await,
            Blobs::S3(bucket) => bucket.read(sha).await,
        }
    }

    /// A file made from a blob (a thumbnail), kept in a local folder on
    /// either engine: derived data, a cache of each server node by design
    /// (see [`BlobDir::read_derived`]).
    pub async fn read_derived(&self, path: &Path, label: &str) -> Option<Vec<u8>> {
        let (keys, seal) = self.sealing();
        read_derived(keys, seal, path, label).await
    }

    /// Keeps a file made from a blob in the local folder `path` names,
    /// sealed as the blobs are (see [`BlobDir::write_derived`]).
    pub async fn write_derived(&self, path: &Path, label: &str, bytes: &[u8]) -> std::io::Result<()> {
        let (keys, seal) = self.sealing();
        write_derived(keys, seal, path, label, bytes).await
    }

    /// Whether the engine can serve: the local folder is there, or the
    /// bucket answers a listing. `Err` says why not, in words for `/readyz`.
    pub async fn ready(&self) -> Result<(), &'static str> {
        match self {
            Blobs::Local(dir) => match tokio::fs::metadata(dir.root()).await {
                Ok(metadata) if metadata.is_dir() => Ok(()),
                _ => Err("the blob folder is missing"),
            },
            Blobs::S3(bucket) => match bucket.any_blob().await {
                Ok(_) => Ok(()),
                Err(error) => {
                    tracing::warn!(%error, "not ready: the blob bucket did not answer");
                    Err("the blob bucket did not answer")
                }
            },
        }
    }

    /// The engine's name, for the log.
    pub fn engine(&self) -> &'static str {
        match self {
            Blobs::Local(_) => "local",
            Blobs::S3(_) => "s3",
        }
    }

    /// The keys and whether new files are sealed: the S3 engine always seals.
    fn sealing(&self) -> (&Arc<BlobKeys>, bool) {
        match self {
            Blobs::Local(dir) => (&dir.keys, dir.seal),
            Blobs::S3(bucket) => (bucket.keys(), true),
        }
    }

    /// Deletes whole blob `sha`; whether it was there to delete.
    async fn remove(&self, sha: &BlobHash) -> bool {
        match self {
            Blobs::Local(dir) => tokio::fs::remove_file(dir.path(sha)).await.is_ok(),
            Blobs::S3(bucket) => bucket.remove_blob(sha).await.is_ok(),
        }
    }
}

/// The name of `uploader`'s partial uploads (a folder, or a part of an
/// object key): a hash of the agent's name, so no name reaches outside it.
fn uploader_key(uploader: &str) -> String {
    hex::encode(&Sha256::digest(uploader.as_bytes())[..16])
}

/// `413 blob_too_large` unless a `total`-byte blob is within `1..=max_bytes`.
fn check_total(total: u64, max_bytes: u64) -> Result<(), ApiError> {
    if total == 0 || total > max_bytes {
        return Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "blob_too_large",
            format!("a blob must be 1 to {max_bytes} bytes; this one says {total}"),
        ));
    }
    Ok(())
}

/// `409 wrong_offset`: an upload resumes exactly where the stored bytes
/// end, neither over them nor past them.
fn wrong_offset(received: u64, offset: u64) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::CONFLICT,
        "wrong_offset",
        format!("the server has {received} bytes of this blob; resume from there, not {offset}"),
    )
}

/// `400 blob_too_long`: the body ran past the declared size.
fn too_long(total: u64) -> ApiError {
    ApiError::bad_request("blob_too_long", format!("the body runs past the declared size of {total} bytes"))
}

/// `422 hash_mismatch` unless `bytes` hash to `sha`.
fn check_hash(sha: &BlobHash, bytes: &[u8]) -> Result<(), ApiError> {
    let actual = hex::encode(Sha256::digest(bytes));
    if sha.as_str() != actual {
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "hash_mismatch",
            format!("the bytes hash to {actual}, not {sha}; nothing was stored"),
        ));
    }
    Ok(())
}

/// See [`BlobDir::read_derived`].
async fn read_derived(keys: &BlobKeys, seal: bool, path: &Path, label: &str) -> Option<Vec<u8>> {
    let bytes = tokio::fs::read(path).await.ok()?;
    if crate::blob_key::is_sealed(&bytes) {
        return keys.open(label.as_bytes(), bytes).ok();
    }
    (!seal).then_some(bytes)
}

/// See [`BlobDir::write_derived`].
async fn write_derived(
    keys: &BlobKeys,
    seal: bool,
    path: &Path,
    label: &str,
    bytes: &[u8],
) -> std::io::Result<()> {
    let stored = if seal { keys.seal(label.as_bytes(), bytes) } else { bytes.to_vec() };
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || write_durably(&path, &stored)).await.map_err(std::io::Error::other)?
}

impl BlobDir {
    /// The blob folder under `root`, created if needed. With `seal`, new
    /// blobs are sealed under the current key of `keys`; every key of it
    /// opens what it sealed either way. No file larger than a `max_bytes`
    /// blob is read.
    pub fn open(root: &Path, keys: BlobKeys, seal: bool, max_bytes: u64) -> std::io::Result<BlobDir> {
        std::fs::create_dir_all(root.join("partial"))?;
        Ok(BlobDir { root: root.to_owned(), keys: Arc::new(keys), seal, max_bytes })
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Final path of a blob. Only a checked hash names one: a reference
    /// from a document is text a phone wrote, never a path.
    pub fn path(&self, sha: &BlobHash) -> PathBuf {
        self.root.join(&sha.as_str()[..2]).join(sha.as_str())
    }

    /// The folder of `uploader`'s partial uploads: named by a hash of the
    /// agent's name, so no name can reach outside it.
    fn partials_of(&self, uploader: &str) -> PathBuf {
        self.root.join("partial").join(uploader_key(uploader))
    }

    fn partial(&self, sha: &BlobHash, uploader: &str) -> PathBuf {
        self.partials_of(uploader).join(sha.as_str())
    }

    /// Where an upload stands for `uploader`: the whole blob when `known`
    /// (the caller decided this agent may learn it is stored) and it is,
    /// otherwise the agent's own partial upload.
    pub async fn status(&self, sha: &BlobHash, uploader: &str, known: bool) -> UploadStatus {
        if known && let Ok(received) = plain_len(&self.path(sha)).await {
            return UploadStatus { complete: true, received };
        }
        let received = tokio::fs::metadata(self.partial(sha, uploader)).await.map(|m| m.len()).unwrap_or(0);
        UploadStatus { complete: false, received }
    }

    /// Appends `body` at `offset` of `uploader`'s upload of a `total`-byte
    /// blob; at the end, verifies and stores it. Returns the status
    /// afterwards (`known` as for [`BlobDir::status`]).
    #[allow(clippy::too_many_arguments)]
    pub async fn append(
        &self,
        sha: &BlobHash,
        uploader: &str,
        known: bool,
        offset: u64,
        total: u64,
        max_bytes: u64,
        mut body: axum::body::BodyDataStream,
    ) -> Result<UploadStatus, ApiError> {
        check_total(total, max_bytes)?;
        let status = self.status(sha, uploader, known).await;
        if status.complete {
            return Ok(status);
        }
        if offset != status.received {
            return Err(wrong_offset(status.received, offset));
        }
        let partial = self.partial(sha, uploader);
        tokio::fs::create_dir_all(self.partials_of(uploader)).await.map_err(ApiError::internal)?;
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&partial)
            .await
            .map_err(ApiError::internal)?;
        let mut received = offset;
        let mut failure = None;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(chunk) => {
                    received += chunk.len() as u64;
                    if received > total {
                        failure = Some(too_long(total));
                        break;
                    }
                    if let Err(e) = file.write_all(&chunk).await {
                        failure = Some(ApiError::internal(e));
                        break;
                    }
                }
                // A cut connection: what arrived is kept for the resume.
                Err(_) => break,
            }
        }
        if let Err(e) = file.sync_data().await {
            failure.get_or_insert(ApiError::internal(e));
        }
        drop(file);
        if let Some(failure) = failure {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(failure);
        }
        if received < total {
            return Ok(UploadStatus { complete: false, received });
        }
        self.finish(sha, &partial).await
    }

    async fn finish(&self, sha: &BlobHash, partial: &Path) -> Result<UploadStatus, ApiError> {
        let bytes = tokio::fs::read(partial).await.map_err(ApiError::internal)?;
        if let Err(mismatch) = check_hash(sha, &bytes) {
            let _ = tokio::fs::remove_file(partial).await;
            return Err(mismatch);
        }
        let received = bytes.len() as u64;
        let target = self.path(sha);
        let dir = target.parent().map(Path::to_owned).unwrap_or_default();
        tokio::fs::create_dir_all(&dir).await.map_err(ApiError::internal)?;
        if self.seal {
            // Sealed into place, then the plain partial goes: a crash in
            // between leaves a partial whose blob is whole, which the next
            // start removes ([`BlobDir::seal_stored`]) and the collection
            // would after its grace.
            let (keys, label) = (self.keys.clone(), sha.clone());
            tokio::task::spawn_blocking(move || {
                write_durably(&target, &keys.seal(label.as_str().as_bytes(), &bytes))
            })
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
            if let Err(e) = tokio::fs::remove_file(partial).await {
                tracing::warn!(error = %e, "a sealed upload's plain partial file stays until the next start");
            }
        } else {
            tokio::fs::rename(partial, &target).await.map_err(ApiError::internal)?;
            // The rename is durable once the directory is synced.
            if let Ok(d) = tokio::fs::File::open(&dir).await {
                let _ = d.sync_all().await;
            }
        }
        Ok(UploadStatus { complete: true, received })
    }

    /// The plain bytes of stored blob `sha`: its sealed file opened, or a
    /// plain file checked against its hash. The one way a stored blob is
    /// read; a file larger than any blob is refused before it is read.
    pub async fn read(&self, sha: &BlobHash) -> Result<Vec<u8>, BlobError> {
        let path = self.path(sha);
        let io = |source: std::io::Error| match source.kind() {
            std::io::ErrorKind::NotFound => BlobError::Missing(sha.clone()),
            _ => BlobError::Io { sha: sha.clone(), source },
        };
        let len = tokio::fs::metadata(&path).await.map_err(io)?.len();
        let max = self.max_bytes.saturating_add(OVERHEAD as u64);
        if len > max {
            return Err(BlobError::TooLarge { sha: sha.clone(), len, max: self.max_bytes });
        }
        let mut bytes = Vec::with_capacity(len as usize);
        let file = tokio::fs::File::open(&path).await.map_err(io)?;
        // Read at most one byte past the limit: a file that grew is refused too.
        file.take(max + 1).read_to_end(&mut bytes).await.map_err(io)?;
        if bytes.len() as u64 > max {
            return Err(BlobError::TooLarge {
                sha: sha.clone(),
                len: bytes.len() as u64,
                max: self.max_bytes,
            });
        }
        let (keys, label) = (self.keys.clone(), sha.clone());
        tokio::task::spawn_blocking(move || open_stored(&keys, &label, bytes))
            .await
            .map_err(|e| BlobError::Io { sha: sha.clone(), source: std::io::Error::other(e) })?
    }

    /// The blobs stored whole, by name, sorted (a file being written is
    /// not one). Blocking: run it on a blocking thread.
    pub fn stored(&self) -> Vec<BlobHash> {
        let mut stored: Vec<BlobHash> = files_below(&self.root, |name| name.len() == 2 && name != "partial")
            .iter()
            .filter_map(|file| BlobHash::parse(&file.file_name()?.to_string_lossy()).ok())
            .collect();
        stored.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        stored
    }

    /// Stored blob `sha`'s file as it is (sealed, or an older server's
    /// plain file), unopened: what another engine stores to hold it the same way.
    pub async fn read_stored(&self, sha: &BlobHash) -> Result<Vec<u8>, BlobError> {
        tokio::fs::read(self.path(sha)).await.map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => BlobError::Missing(sha.clone()),
            _ => BlobError::Io { sha: sha.clone(), source },
        })
    }

    /// A file kept beside the blobs that is made from one (a thumbnail):
    /// its plain bytes, or `None` when it is missing, does not open, or is
    /// plain while blobs are sealed (then it is made again).
    pub async fn read_derived(&self, path: &Path, label: &str) -> Option<Vec<u8>> {
        read_derived(&self.keys, self.seal, path, label).await
    }

    /// Keeps a file made from a blob, sealed as the blobs are, written
    /// whole or not at all.
    pub async fn write_derived(&self, path: &Path, label: &str, bytes: &[u8]) -> std::io::Result<()> {
        write_derived(&self.keys, self.seal, path, label, bytes).await
    }

    /// Seals the plain blobs an older server (or `blob_encryption` off)
    /// left, each written sealed beside itself, made durable and renamed
    /// over the plain file, so a crash leaves one or the other whole.
    /// Removes the plain copies that are no longer needed: partial uploads
    /// whose blob is stored whole, and unsealed files in `derived` (the
    /// thumbnails, made again sealed when next asked for). A plain file
    /// whose bytes do not match its name is left as it is, and counted.
    /// Blocking: run it on a blocking thread.
    pub fn seal_stored(&self, derived: &[&Path]) -> SealReport {
        let mut report = SealReport::default();
        for file in files_below(&self.root, |name| name.len() == 2 && name != "partial") {
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name.contains(WRITING_MARK) {
                if older_than(&file, LEFTOVER_AGE_SECS) && std::fs::remove_file(&file).is_ok() {
                    report.leftovers_removed += 1;
                }
                continue;
            }
            let Ok(sha) = BlobHash::parse(&name) else { continue };
            let Ok(bytes) = std::fs::read(&file) else { continue };
            if crate::blob_key::is_sealed(&bytes) {
                continue;
            }
            if hex::encode(Sha256::digest(&bytes)) != sha.as_str() {
                tracing::warn!(file = %file.display(), "a plain blob does not match its name: left as it is");
                report.damaged += 1;
                continue;
            }
            match write_durably(&file, &self.keys.seal(sha.as_str().as_bytes(), &bytes)) {
                Ok(()) => report.sealed += 1,
                Err(e) => tracing::warn!(file = %file.display(), error = %e, "sealing a plain blob failed"),
            }
        }
        for file in files_below(&self.root.join("partial"), |_| true) {
            let whole = file
                .file_name()
                .and_then(|n| BlobHash::parse(&n.to_string_lossy()).ok())
                .is_some_and(|sha| self.path(&sha).exists());
            if whole && std::fs::remove_file(&file).is_ok() {
                report.plain_copies_removed += 1;
            }
        }
        for dir in derived {
            for file in files_in(dir) {
                let mut start = [0u8; crate::blob_key::MAGIC.len()];
                let sealed = std::fs::File::open(&file)
                    .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut start))
                    .is_ok_and(|()| crate::blob_key::is_sealed(&start));
                if !sealed && std::fs::remove_file(&file).is_ok() {
                    report.plain_copies_removed += 1;
                }
            }
        }
        report
    }
}

/// A stored file's plain bytes (see [`BlobDir::read`]).
fn open_stored(keys: &BlobKeys, sha: &BlobHash, bytes: Vec<u8>) -> Result<Vec<u8>, BlobError> {
    if crate::blob_key::is_sealed(&bytes) {
        return keys.open(sha.as_str().as_bytes(), bytes).map_err(|reason| {
            tracing::error!(%sha, %reason, "a stored blob does not open");
            BlobError::Sealed { sha: sha.clone(), reason }
        });
    }
    let actual = hex::encode(Sha256::digest(&bytes));
    if actual != sha.as_str() {
        tracing::error!(%sha, %actual, "a stored blob does not match its name");
        return Err(BlobError::Damaged { sha: sha.clone(), actual });
    }
    Ok(bytes)
}

/// How many plain bytes the stored file at `path` holds.
async fn plain_len(path: &Path) -> std::io::Result<u64> {
    let mut file = tokio::fs::File::open(path).await?;
    let len = file.metadata().await?.len();
    let mut start = [0u8; crate::blob_key::MAGIC.len()];
    let sealed = file.read_exact(&mut start).await.is_ok() && crate::blob_key::is_sealed(&start);
    Ok(if sealed { len.saturating_sub(OVERHEAD as u64) } else { len })
}

/// The files directly in `dir`.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_file())).map(|e| e.path()).collect()
}

/// The files in the folders of `dir` whose names `folder` accepts.
fn files_below(dir: &Path, folder: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()) && folder(&e.file_name().to_string_lossy()))
        .flat_map(|e| files_in(&e.path()))
        .collect()
}

/// Whether the file at `path` was last written more than `secs` ago.
fn older_than(path: &Path, secs: u64) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() > secs)
}

/// What one collection removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    /// Partial uploads deleted: files on the local engine, segments on S3.
    pub partials: usize,
    /// Whole blobs no visit refers to, deleted.
    pub blobs: usize,
}

/// Most whole blobs one collection looks at.
const COLLECT_BATCH: usize = 1000;

/// Deletes the uploads no visit refers to whose grace has passed at `now`
/// (Unix seconds, the server's clock): partial uploads last written more
/// than `grace_secs` ago, and whole blobs received that long ago that no
/// visit refers to. A blob a visit refers to is never deleted: the store
/// forgets a blob only while no visit refers to it, in one unit of work,
/// and only then is its file removed.
pub async fn collect_unreferenced(
    blobs: &Blobs,
    store: &dyn crate::store::Store,
    now: i64,
    grace_secs: i64,
) -> Result<Collected, crate::store::StoreError> {
    let cutoff = now.saturating_sub(grace_secs);
    let mut collected = Collected::default();
    for sha in store.unreferenced_blobs(cutoff, COLLECT_BATCH).await? {
        // The store holds only hashes the upload route checked; anything else
        // names no file.
        let Ok(hash) = BlobHash::parse(&sha) else { continue };
        if store.forget_unreferenced_blob(&sha).await? && blobs.remove(&hash).await {
            collected.blobs += 1;
        }
    }
    collected.partials = match blobs {
        Blobs::Local(dir) => remove_older(&dir.root.join("partial"), cutoff).await,
        Blobs::S3(bucket) => bucket.remove_segments_older(cutoff).await,
    };
    Ok(collected)
}

/// Removes the files under `folder` (and one level of folders below it)
/// last written before `cutoff` (Unix seconds); returns how many.
async fn remove_older(folder: &Path, cutoff: i64) -> usize {
    let mut removed = 0;
    let mut folders = vec![(folder.to_owned(), 0)];
    while let Some((folder, depth)) = folders.pop() {
        let Ok(mut entries) = tokio::fs::read_dir(&folder).await else { continue };
        while let Ok(Some(entry)) = entries.next_entry().await {
            let Ok(meta) = entry.metadata().await else { continue };
            if meta.is_dir() {
                if depth == 0 {
                    folders.push((entry.path(), depth + 1));
                }
                continue;
            }
            let written = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(i64::MAX, |d| d.as_secs() as i64);
            if written < cutoff && tokio::fs::remove_file(entry.path()).await.is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(bytes: &[u8]) -> axum::body::BodyDataStream {
        axum::body::Body::from(bytes.to_vec()).into_data_stream()
    }

    /// A blob folder at `root` that seals, with a key of its own.
    fn sealing(root: &Path) -> BlobDir {
        BlobDir::open(root, BlobKeys::generate(), true, 1 << 20).unwrap()
    }

    /// A photo-like blob: bytes that do not repeat, so a search finds them
    /// only where they were written.
    fn photo(seed: u8) -> Vec<u8> {
        let mut bytes = b"\xff\xd8\xff\xe0 an ID card photo ".to_vec();
        let mut x = u32::from(seed) + 1;
        bytes.extend((0..4000).map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        }));
        bytes
    }

    /// Every file under `root`, and whether it holds `needle`.
    fn files_holding(root: &Path, needle: &[u8]) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut folders = vec![root.to_owned()];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(folder).unwrap().flatten() {
                if entry.file_type().unwrap().is_dir() {
                    folders.push(entry.path());
                } else if std::fs::read(entry.path()).unwrap().windows(needle.len()).any(|w| w == needle) {
                    found.push(entry.path());
                }
            }
        }
        found
    }

    async fn upload(blobs: &BlobDir, bytes: &[u8]) -> BlobHash {
        let sha = BlobHash::of(bytes);
        let len = bytes.len() as u64;
        // In two pieces, as a cut upload resumed.
        blobs.append(&sha, "wang", false, 0, len, 1 << 20, body(&bytes[..100])).await.unwrap();
        let done = blobs.append(&sha, "wang", false, 100, len, 1 << 20, body(&bytes[100..])).await.unwrap();
        assert_eq!(done, UploadStatus { complete: true, received: len });
        sha
    }

    #[tokio::test]
    async fn an_upload_is_stored_sealed_reads_back_whole_and_leaves_no_plain_copy() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = sealing(dir.path());
        let bytes = photo(1);
        let sha = upload(&blobs, &bytes).await;
        assert_eq!(blobs.read(&sha).await.unwrap(), bytes);
        let stored = std::fs::read(blobs.path(&sha)).unwrap();
        assert!(crate::blob_key::is_sealed(&stored));
        assert_eq!(stored.len(), bytes.len() + OVERHEAD);
        // A stretch from the middle of the photo is nowhere in the folder:
        // not under its hash, not as a partial upload, not as a temporary file.
        assert_eq!(files_holding(dir.path(), &bytes[2000..2064]), Vec::<PathBuf>::new());
        // The phone's status sees the plain length.
        assert_eq!(blobs.status(&sha, "wang", true).await, UploadStatus { complete: true, received: 4022 });
        assert!(matches!(blobs.read(&BlobHash::of(b"none")).await, Err(BlobError::Missing(_))));
    }

    /// Each damage to a stored file, and that no byte of it is served.
    #[tokio::test]
    async fn a_damaged_stored_blob_is_refused_never_served() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = sealing(dir.path());
        let bytes = photo(2);
        let sha = upload(&blobs, &bytes).await;
        let sealed = std::fs::read(blobs.path(&sha)).unwrap();
        let with = |change: &dyn Fn(&mut Vec<u8>)| {
            let mut damaged = sealed.clone();
            change(&mut damaged);
            damaged
        };
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("a flipped magic byte", with(&|b| b[1] ^= 1), "neither sealed nor its plain bytes"),
            ("another key id", with(&|b| b[8] ^= 1), "not in the blob key file"),
            ("a flipped nonce byte", with(&|b| b[20] ^= 1), "tag does not match"),
            ("a flipped ciphertext byte", with(&|b| b[500] ^= 1), "tag does not match"),
            ("a flipped tag byte", with(&|b| *b.last_mut().unwrap() ^= 1), "tag does not match"),
            ("cut short", with(&|b| b.truncate(2000)), "tag does not match"),
            ("cut inside the header", with(&|b| b.truncate(10)), "cut short"),
            (
                "another blob's sealed file",
                std::fs::read(blobs.path(&upload(&blobs, &photo(3)).await)).unwrap(),
                "tag does not match",
            ),
        ];
        for (what, damaged, words) in cases {
            std::fs::write(blobs.path(&sha), damaged).unwrap();
            let error = blobs.read(&sha).await.expect_err(what);
            assert!(error.to_string().contains(words), "{what}: {error}");
            assert!(error.to_string().contains(sha.as_str()), "{what}: the words name the blob: {error}");
        }
        // A file larger than any blob is refused before it is read.
        std::fs::write(blobs.path(&sha), vec![0u8; (1 << 20) + OVERHEAD + 1]).unwrap();
        assert!(matches!(blobs.read(&sha).await, Err(BlobError::TooLarge { .. })));
    }

    #[tokio::test]
    async fn plain_blobs_of_an_older_server_still_read_and_are_sealed_in_place_without_loss() {
        let dir = tempfile::tempdir().unwrap();
        // An older server's folder: plain blobs, a partial upload whose blob
        // is whole (a crash after the rename), a plain thumbnail, and the
        // temporary file of a write that a crash cut.
        let plain = BlobDir::open(dir.path(), BlobKeys::generate(), false, 1 << 20).unwrap();
        let (first, second) = (photo(4), photo(5));
        let (a, b) = (upload(&plain, &first).await, upload(&plain, &second).await);
        assert_eq!(std::fs::read(plain.path(&a)).unwrap(), first, "stored plain with sealing off");
        let leftover = plain.partial(&a, "li");
        std::fs::create_dir_all(leftover.parent().unwrap()).unwrap();
        std::fs::write(&leftover, &first).unwrap();
        let thumbnails = dir.path().join("thumbs");
        std::fs::create_dir_all(&thumbnails).unwrap();
        std::fs::write(thumbnails.join(format!("{a}-320.jpg")), &first[..1000]).unwrap();
        let writing = plain.path(&a).with_file_name(format!("{a}{WRITING_MARK}1234"));
        std::fs::write(&writing, b"half").unwrap();
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * LEFTOVER_AGE_SECS);
        std::fs::File::options().write(true).open(&writing).unwrap().set_modified(hour_ago).unwrap();
        let damaged = BlobHash::of(b"what the name says");
        std::fs::create_dir_all(plain.path(&damaged).parent().unwrap()).unwrap();
        std::fs::write(plain.path(&damaged), b"something else").unwrap();

        let blobs = sealing(dir.path());
        assert_eq!(blobs.read(&a).await.unwrap(), first, "a plain blob reads before it is sealed");
        let report = blobs.seal_stored(&[&thumbnails]);
        assert_eq!(
            report,
            SealReport { sealed: 2, damaged: 1, plain_copies_removed: 2, leftovers_removed: 1 }
        );
        assert_eq!(blobs.read(&a).await.unwrap(), first);
        assert_eq!(blobs.read(&b).await.unwrap(), second);
        assert!(matches!(blobs.read(&damaged).await, Err(BlobError::Damaged { .. })));
        assert_eq!(std::fs::read(blobs.path(&damaged)).unwrap(), b"something else", "left as it was");
        for bytes in [&first, &second] {
            assert_eq!(files_holding(dir.path(), &bytes[2000..2064]), Vec::<PathBuf>::new());
        }
        // Sealing again finds nothing to do.
        assert_eq!(blobs.seal_stored(&[&thumbnails]), SealReport { damaged: 1, ..SealReport::default() });
    }

    #[tokio::test]
    async fn a_thumbnail_is_kept_sealed_and_one_of_another_blob_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = sealing(dir.path());
        let path = dir.path().join("thumbs").join("a-320.jpg");
        blobs.write_derived(&path, "a-320.jpg", b"a small JPEG").await.unwrap();
        assert!(crate::blob_key::is_sealed(&std::fs::read(&path).unwrap()));
        assert_eq!(blobs.read_derived(&path, "a-320.jpg").await.unwrap(), b"a small JPEG");
        assert_eq!(blobs.read_derived(&path, "b-320.jpg").await, None);
        std::fs::write(&path, b"a plain JPEG").unwrap();
        assert_eq!(blobs.read_derived(&path, "a-320.jpg").await, None, "made again, sealed");
    }

    #[tokio::test]
    async fn a_partial_upload_is_its_uploaders_and_another_agents_failure_leaves_it() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = sealing(dir.path());
        let bytes = vec![7u8; 1000];
        let sha = BlobHash::of(&bytes);
        blobs.append(&sha, "wang", false, 0, 1000, 1 << 20, body(&bytes[..400])).await.unwrap();
        // li's over-long body at wang's offset fails on li's own file.
        let attack = blobs.append(&sha, "li", false, 0, 1000, 1 << 20, body(&[0u8; 1001])).await;
        assert_eq!(attack.unwrap_err().code, "blob_too_long");
        let offset = blobs.append(&sha, "li", false, 400, 1000, 1 << 20, body(&[0u8; 10])).await;
        assert_eq!(offset.unwrap_err().code, "wrong_offset");
        assert_eq!(blobs.status(&sha, "wang", true).await, UploadStatus { complete: false, received: 400 });
        assert_eq!(blobs.status(&sha, "li", true).await, UploadStatus { complete: false, received: 0 });
        // Names that look like paths stay inside the partial folder.
        assert!(blobs.partial(&sha, "../..").starts_with(dir.path().join("partial")));
        let done = blobs.append(&sha, "wang", false, 400, 1000, 1 << 20, body(&bytes[400..])).await.unwrap();
        assert_eq!(done, UploadStatus { complete: true, received: 1000 });
        // Stored, but only an agent the caller knows may learn it.
        assert_eq!(blobs.status(&sha, "li", false).await, UploadStatus { complete: false, received: 0 });
        assert_eq!(blobs.status(&sha, "wang", true).await, UploadStatus { complete: true, received: 1000 });
    }
}
