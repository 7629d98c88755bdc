//! Blobs (photos, signature images and strokes): content-addressed files,
//! uploaded resumably and verified before they count.
//!
//! `PUT /api/v1/blobs/{sha256}?offset=N` with header `x-blob-size: TOTAL`
//! appends the body at byte `N` of a partial file. When the partial file
//! reaches TOTAL bytes its SHA-256 is checked: a match is fsynced and renamed
//! into place, a mismatch is deleted and refused. A cut upload resumes from
//! `GET /api/v1/blobs/{sha256}/status` (`received` bytes).

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

    fn partial(&self, sha: &BlobHash) -> PathBuf {
        self.root.join("partial").join(sha.as_str())
    }

    /// Where an upload stands.
    pub async fn status(&self, sha: &BlobHash) -> UploadStatus {
        if let Ok(meta) = tokio::fs::metadata(self.path(sha)).await {
            return UploadStatus { complete: true, received: meta.len() };
        }
        let received = tokio::fs::metadata(self.partial(sha)).await.map(|m| m.len()).unwrap_or(0);
        UploadStatus { complete: false, received }
    }

    /// Appends `body` at `offset` of the upload of a `total`-byte blob; at
    /// the end, verifies and stores it. Returns the status afterwards.
    pub async fn append(
        &self,
        sha: &BlobHash,
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
        let status = self.status(sha).await;
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
        let partial = self.partial(sha);
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
