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

use std::path::{Path, PathBuf};

use futures::StreamExt;
use posfield_shared::BlobHash;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::error::ApiError;

/// The blob folder.
#[derive(Debug, Clone)]
pub struct BlobDir {
    root: PathBuf,
}

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

impl BlobDir {
    /// The blob folder under `root`, created if needed.
    pub fn open(root: &Path) -> std::io::Result<BlobDir> {
        std::fs::create_dir_all(root.join("partial"))?;
        Ok(BlobDir { root: root.to_owned() })
    }

    /// Final path of a blob. Only a checked hash names one: a reference
    /// from a document is text a phone wrote, never a path.
    pub fn path(&self, sha: &BlobHash) -> PathBuf {
        self.root.join(&sha.as_str()[..2]).join(sha.as_str())
    }

    /// The folder of `uploader`'s partial uploads: named by a hash of the
    /// agent's name, so no name can reach outside it.
    fn partials_of(&self, uploader: &str) -> PathBuf {
        let key = hex::encode(&Sha256::digest(uploader.as_bytes())[..16]);
        self.root.join("partial").join(key)
    }

    fn partial(&self, sha: &BlobHash, uploader: &str) -> PathBuf {
        self.partials_of(uploader).join(sha.as_str())
    }

    /// Where an upload stands for `uploader`: the whole blob when `known`
    /// (the caller decided this agent may learn it is stored) and it is,
    /// otherwise the agent's own partial upload.
    pub async fn status(&self, sha: &BlobHash, uploader: &str, known: bool) -> UploadStatus {
        if known && let Ok(meta) = tokio::fs::metadata(self.path(sha)).await {
            return UploadStatus { complete: true, received: meta.len() };
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
        if total == 0 || total > max_bytes {
            return Err(ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "blob_too_large",
                format!("a blob must be 1 to {max_bytes} bytes; this one says {total}"),
            ));
        }
        let status = self.status(sha, uploader, known).await;
        if status.complete {
            return Ok(status);
        }
        if offset != status.received {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "wrong_offset",
                format!(
                    "the server has {} bytes of this blob; resume from there, not {offset}",
                    status.received
                ),
            ));
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
                        failure = Some(ApiError::bad_request(
                            "blob_too_long",
                            format!("the body runs past the declared size of {total} bytes"),
                        ));
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
        let actual = hex::encode(Sha256::digest(&bytes));
        if sha.as_str() != actual {
            let _ = tokio::fs::remove_file(partial).await;
            return Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "hash_mismatch",
                format!("the bytes hash to {actual}, not {sha}; nothing was stored"),
            ));
        }
        let target = self.path(sha);
        let dir = target.parent().map(Path::to_owned).unwrap_or_default();
        tokio::fs::create_dir_all(&dir).await.map_err(ApiError::internal)?;
        tokio::fs::rename(partial, &target).await.map_err(ApiError::internal)?;
        // The rename is durable once the directory is synced.
        if let Ok(d) = tokio::fs::File::open(&dir).await {
            let _ = d.sync_all().await;
        }
        Ok(UploadStatus { complete: true, received: bytes.len() as u64 })
    }
}

/// What one collection removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    /// Partial uploads deleted.
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
    blobs: &BlobDir,
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
        if store.forget_unreferenced_blob(&sha).await?
            && tokio::fs::remove_file(blobs.path(&hash)).await.is_ok()
        {
            collected.blobs += 1;
        }
    }
    collected.partials = remove_older(&blobs.root.join("partial"), cutoff).await;
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

    #[tokio::test]
    async fn a_partial_upload_is_its_uploaders_and_another_agents_failure_leaves_it() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobDir::open(dir.path()).unwrap();
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
