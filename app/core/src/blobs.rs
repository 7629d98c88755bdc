//! Content-addressed blob files: photos and signatures.
//!
//! A blob's name is the SHA-256 of its bytes. Writing goes to a temporary
//! file in the same directory, is fsynced, renamed into place and the
//! directory fsynced, so a crash never leaves a partial file under a hash.
//! Writing bytes that are already stored is a no-op.
//!
//! A failed write (the disk full, an I/O error) removes its temporary file
//! and leaves every stored blob as it was. The tests inject those failures
//! at each step with the failpoints `blobs::write` (the disk fills halfway
//! through the file), `blobs::sync`, `blobs::rename` and `blobs::sync_dir`.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use posfield_shared::BlobHash;
use sha2::{Digest, Sha256};

/// Why a blob could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The device's storage is full; this file was not stored, everything
    /// stored before is intact.
    #[error("storage full while saving a {bytes}-byte file: free some space on the phone, nothing was lost")]
    StorageFull {
        /// Size of the blob being written.
        bytes: usize,
    },
    /// No blob with this hash.
    #[error("no stored file {0}")]
    NotFound(String),
    /// The name is not a SHA-256 in lowercase hex.
    #[error("{0:?} is not a sha256 (64 lowercase hex digits)")]
    BadHash(String),
    /// The stored bytes no longer match their hash.
    #[error("stored file {sha256} is damaged: its content hashes to {actual}")]
    Damaged {
        /// The expected hash.
        sha256: String,
        /// What the bytes hash to now.
        actual: String,
    },
    /// Any other file system error.
    #[error("blob file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// SHA-256 of `bytes` in lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A directory of blobs named by their hash (`ab/abcdef…`). Only the
/// `Agent` facade holds one: nothing outside this crate can name it.
#[derive(Debug, Clone)]
pub(crate) struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    /// Opens (creating if needed) the blob directory.
    pub(crate) fn open(dir: &Path) -> Result<BlobStore, BlobError> {
        fs::create_dir_all(dir.join("tmp"))
            .map_err(|source| BlobError::Io { path: dir.to_owned(), source })?;
        Ok(BlobStore { dir: dir.to_owned() })
    }

    /// Where the blob with this hash lives (whether or not it exists).
    pub(crate) fn path_of(&self, sha256: &str) -> Result<PathBuf, BlobError> {
        let hash = BlobHash::parse(sha256).map_err(|_| BlobError::BadHash(sha256.to_owned()))?;
        Ok(self.dir.join(&hash.as_str()[..2]).join(hash.as_str()))
    }

    /// Whether the blob is stored.
    pub(crate) fn contains(&self, sha256: &str) -> bool {
        self.path_of(sha256).is_ok_and(|p| p.is_file())
    }

    /// Deletes a blob; whether there was one. Only for a blob the server
    /// has confirmed it holds (the retention of personal photos).
    pub(crate) fn remove(&self, sha256: &str) -> Result<bool, BlobError> {
        let path = self.path_of(sha256)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(BlobError::Io { path, source }),
        }
    }

    /// Stores `bytes` durably and returns their hash. Storing the same bytes again is a no-op.
    pub(crate) fn put(&self, bytes: &[u8]) -> Result<String, BlobError> {
        let sha256 = sha256_hex(bytes);
        let path = self.path_of(&sha256)?;
        let parent = path.parent().unwrap_or(&self.dir);
        let failed = |source: std::io::Error, path: &Path| {
            if is_storage_full(&source) {
                BlobError::StorageFull { bytes: bytes.len() }
            } else {
                BlobError::Io { path: path.to_owned(), source }
            }
        };
        if path.is_file() {
            // Make its directory entry durable again: an earlier put that
            // failed at that last step is retried this way.
            return sync_dir(parent).map(|()| sha256).map_err(|source| failed(source, parent));
        }
        let tmp = self.dir.join("tmp").join(format!("{sha256}.{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut file = File::create(&tmp)?;
            if let Err(error) = failpoint("blobs::write") {
                file.write_all(&bytes[..bytes.len() / 2])?;
                return Err(error);
            }
            file.write_all(bytes)?;
            failpoint("blobs::sync")?;
            file.sync_all()?;
            fs::create_dir_all(parent)?;
            failpoint("blobs::rename")?;
            fs::rename(&tmp, &path)
        };
        if let Err(source) = write() {
            // Never acknowledged: the partial temporary file goes, no file appears under the hash.
            let _ = fs::remove_file(&tmp);
            return Err(failed(source, &path));
        }
        // Persist the rename itself. If this fails, the file under the hash is
        // whole (fsynced before the rename) and a retry fsyncs its directory.
        failpoint("blobs::sync_dir")
            .and_then(|()| sync_dir(parent))
            .map_err(|source| failed(source, parent))?;
        Ok(sha256)
    }

    /// Reads a blob and checks its bytes still match its hash.
    pub(crate) fn get(&self, sha256: &str) -> Result<Vec<u8>, BlobError> {
        let path = self.path_of(sha256)?;
        let bytes = fs::read(&path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => BlobError::NotFound(sha256.to_owned()),
            _ => BlobError::Io { path: path.clone(), source },
        })?;
        let actual = sha256_hex(&bytes);
        if actual != sha256 {
            return Err(BlobError::Damaged { sha256: sha256.to_owned(), actual });
        }
        Ok(bytes)
    }

    /// Removes temporary files left by writes a crash interrupted. They were
    /// never acknowledged, so no work is lost.
    pub(crate) fn remove_interrupted_writes(&self) -> Result<usize, BlobError> {
        let tmp = self.dir.join("tmp");
        let mut removed = 0;
        let entries = fs::read_dir(&tmp).map_err(|source| BlobError::Io { path: tmp.clone(), source })?;
        for entry in entries.flatten() {
            if fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Whether an I/O error means the device has no room left.
fn is_storage_full(error: &std::io::Error) -> bool {
    matches!(error.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
}

/// Fsyncs a directory, so the entries renamed into it survive a power loss.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The error the failpoint `name` injects, if the tests configured it: an
/// errno given as its argument (`return(5)` is EIO), otherwise the disk
/// full. Only the tests compile failpoints in (the `failpoints` feature of
/// `fail`); everywhere else this is always `Ok`.
fn failpoint(name: &str) -> std::io::Result<()> {
    fail::fail_point!(name, |errno: Option<String>| Err(match errno.and_then(|e| e.parse().ok()) {
        Some(errno) => std::io::Error::from_raw_os_error(errno),
        None => std::io::Error::from(std::io::ErrorKind::StorageFull),
    }));
    let _ = name;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_is_content_addressed_idempotent_and_verified_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path()).unwrap();
        let sha = blobs.put(b"photo bytes").unwrap();
        assert_eq!(sha, sha256_hex(b"photo bytes"));
        assert_eq!(blobs.put(b"photo bytes").unwrap(), sha, "storing twice is a no-op");
        assert_eq!(blobs.get(&sha).unwrap(), b"photo bytes");
        assert!(blobs.contains(&sha));
        // Damage the file behind the store's back: reading says so.
        fs::write(blobs.path_of(&sha).unwrap(), b"tampered").unwrap();
        assert!(matches!(blobs.get(&sha), Err(BlobError::Damaged { .. })));
    }

    #[test]
    fn bad_names_and_missing_blobs_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path()).unwrap();
        assert!(matches!(blobs.get("../../etc/passwd"), Err(BlobError::BadHash(_))));
        let missing = sha256_hex(b"never stored");
        assert_eq!(blobs.get(&missing).unwrap_err().to_string(), format!("no stored file {missing}"));
    }

    #[test]
    fn interrupted_writes_leave_no_file_under_a_hash() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path()).unwrap();
        // A crash between write and rename leaves only a temporary file.
        fs::write(dir.path().join("tmp").join("deadbeef.123"), b"half a pho").unwrap();
        assert_eq!(blobs.remove_interrupted_writes().unwrap(), 1);
        let stored: Vec<_> =
            fs::read_dir(dir.path()).unwrap().flatten().filter(|e| e.file_name() != "tmp").collect();
        assert!(stored.is_empty());
    }
}
