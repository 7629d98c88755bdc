//! Content-addressed blob files: photos and signatures.
//!
//! A blob's name is the SHA-256 of its bytes. Writing goes to a temporary
//! file in the same directory, is fsynced, renamed into place and the
//! directory fsynced, so a crash never leaves a partial file under a hash.
//! Writing bytes that are already stored is a no-op.
//!
//! Each file is sealed (`crate::at_rest`): the name is the hash of the plain
//! bytes, the content is their ChaCha20-Poly1305 sealing, so neither a file
//! nor a temporary file ever holds a photo in clear. A plain file left by an
//! older version is sealed in place when the folder is opened.
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

use crate::at_rest::{BlobSeal, SEAL_OVERHEAD, SealError};

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
    /// The sealed file does not open with this phone's key.
    #[error("stored file {sha256} cannot be read: {source}")]
    Unreadable {
        /// The blob.
        sha256: String,
        /// Why.
        #[source]
        source: SealError,
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
    seal: BlobSeal,
}

impl BlobStore {
    /// Opens (creating if needed) the blob directory, whose files are
    /// sealed with `seal`. Files an older version stored in the clear are
    /// sealed now (`seal_plain_files`).
    pub(crate) fn open(dir: &Path, seal: BlobSeal) -> Result<BlobStore, BlobError> {
        fs::create_dir_all(dir.join("tmp"))
            .map_err(|source| BlobError::Io { path: dir.to_owned(), source })?;
        let blobs = BlobStore { dir: dir.to_owned(), seal };
        // A phone too full to seal its old photos still opens: they stay
        // readable (`get` checks a plain one against its name) and are
        // sealed at a later start.
        match blobs.seal_plain_files() {
            Ok(_) | Err(BlobError::StorageFull { .. }) => Ok(blobs),
            Err(other) => Err(other),
        }
    }

    /// Seals every file still in the clear, each the way `put` writes one
    /// (a temporary file, fsynced, renamed over the plain one): a crash
    /// leaves each file either plain and whole or sealed and whole. A plain
    /// file whose bytes no longer match its name is left as it is, for
    /// `get` to report as damaged. Returns how many files were sealed.
    pub(crate) fn seal_plain_files(&self) -> Result<usize, BlobError> {
        let mut sealed = 0;
        fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BlobError + '_ {
            move |source| BlobError::Io { path: path.to_owned(), source }
        }
        for shard in fs::read_dir(&self.dir).map_err(io(&self.dir))?.flatten() {
            let name = shard.file_name();
            let name = name.to_string_lossy();
            if name.len() != 2 || !shard.path().is_dir() {
                continue;
            }
            for entry in fs::read_dir(shard.path()).map_err(io(&shard.path()))?.flatten() {
                let sha256 = entry.file_name().to_string_lossy().into_owned();
                let Ok(path) = self.path_of(&sha256) else { continue };
                // Only the first bytes of a sealed file are read.
                let mut head = [0u8; 4];
                let read = File::open(&path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head));
                if read.is_ok() && &head == crate::at_rest::SEALED_MAGIC {
                    continue;
                }
                let bytes = fs::read(&path).map_err(io(&path))?;
                if BlobSeal::is_sealed(&bytes) || sha256_hex(&bytes) != sha256 {
                    continue;
                }
                self.write_sealed(&sha256, &bytes, &path)?;
                sealed += 1;
            }
        }
        Ok(sealed)
    }

    /// The plain size of a stored blob.
    pub(crate) fn size(&self, sha256: &str) -> Result<Option<u64>, BlobError> {
        let path = self.path_of(sha256)?;
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(BlobError::Io { path, source }),
        };
        let len = file.metadata().map_err(|source| BlobError::Io { path: path.clone(), source })?.len();
        let mut head = [0u8; 4];
        let sealed =
            std::io::Read::read_exact(&mut file, &mut head).is_ok() && &head == crate::at_rest::SEALED_MAGIC;
        Ok(Some(if sealed { len.saturating_sub(SEAL_OVERHEAD as u64) } else { len }))
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

    /// Stores `bytes` durably, sealed, and returns their hash. Storing the
    /// same bytes again is a no-op.
    pub(crate) fn put(&self, bytes: &[u8]) -> Result<String, BlobError> {
        let sha256 = sha256_hex(bytes);
        let path = self.path_of(&sha256)?;
        let parent = path.parent().unwrap_or(&self.dir);
        if path.is_file() {
            // Make its directory entry durable again: an earlier put that
            // failed at that last step is retried this way.
            return sync_dir(parent).map(|()| sha256).map_err(|source| failed(bytes.len(), source, parent));
        }
        self.write_sealed(&sha256, bytes, &path)?;
        Ok(sha256)
    }

    /// Writes the sealed form of `bytes` (the blob `sha256`) to `path`
    /// through a temporary file, fsynced and renamed, the folder fsynced.
    fn write_sealed(&self, sha256: &str, bytes: &[u8], path: &Path) -> Result<(), BlobError> {
        let parent = path.parent().unwrap_or(&self.dir);
        let sealed = self.seal.seal(sha256, bytes);
        let failed = |source: std::io::Error, path: &Path| failed(bytes.len(), source, path);
        let tmp = self.dir.join("tmp").join(format!("{sha256}.{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut file = File::create(&tmp)?;
            if let Err(error) = failpoint("blobs::write") {
                file.write_all(&sealed[..sealed.len() / 2])?;
                return Err(error);
            }
            file.write_all(&sealed)?;
            failpoint("blobs::sync")?;
            file.sync_all()?;
            fs::create_dir_all(parent)?;
            failpoint("blobs::rename")?;
            fs::rename(&tmp, path)
        };
        if let Err(source) = write() {
            // Never acknowledged: the partial temporary file goes, no file appears under the hash.
            let _ = fs::remove_file(&tmp);
            return Err(failed(source, path));
        }
        // Persist the rename itself. If this fails, the file under the hash is
        // whole (fsynced before the rename) and a retry fsyncs its directory.
        failpoint("blobs::sync_dir").and_then(|()| sync_dir(parent)).map_err(|source| failed(source, parent))
    }

    /// Reads a blob, opens its seal and checks its bytes still match its hash.
    pub(crate) fn get(&self, sha256: &str) -> Result<Vec<u8>, BlobError> {
        let path = self.path_of(sha256)?;
        let stored = fs::read(&path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => BlobError::NotFound(sha256.to_owned()),
            _ => BlobError::Io { path: path.clone(), source },
        })?;
        let bytes = if !BlobSeal::is_sealed(&stored) && sha256_hex(&stored) == sha256 {
            // An older version's plain file not sealed yet (a full phone).
            stored
        } else {
            self.seal
                .open(sha256, &stored)
                .map_err(|source| BlobError::Unreadable { sha256: sha256.to_owned(), source })?
        };
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

/// The error of a failed write of a `bytes`-byte blob at `path`.
fn failed(bytes: usize, source: std::io::Error, path: &Path) -> BlobError {
    if is_storage_full(&source) {
        BlobError::StorageFull { bytes }
    } else {
        BlobError::Io { path: path.to_owned(), source }
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
    use crate::at_rest::DataKey;

    fn seal() -> BlobSeal {
        DataKey::from_bytes([3; 32]).blob_seal()
    }

    #[test]
    fn put_is_content_addressed_idempotent_and_verified_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path(), seal()).unwrap();
        let sha = blobs.put(b"photo bytes").unwrap();
        assert_eq!(sha, sha256_hex(b"photo bytes"));
        assert_eq!(blobs.put(b"photo bytes").unwrap(), sha, "storing twice is a no-op");
        assert_eq!(blobs.get(&sha).unwrap(), b"photo bytes");
        assert!(blobs.contains(&sha));
        assert_eq!(blobs.size(&sha).unwrap(), Some(11));
        // Damage the file behind the store's back: reading says so.
        fs::write(blobs.path_of(&sha).unwrap(), b"tampered").unwrap();
        assert!(matches!(blobs.get(&sha), Err(BlobError::Unreadable { .. })));
    }

    #[test]
    fn files_hold_no_plain_bytes_and_an_older_versions_plain_files_are_sealed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let photo = b"\xff\xd8 ID card 110101199001011234 ".repeat(50);
        let blobs = BlobStore::open(dir.path(), seal()).unwrap();
        let sha = blobs.put(&photo).unwrap();
        let stored = fs::read(blobs.path_of(&sha).unwrap()).unwrap();
        assert!(!stored.windows(18).any(|w| w == b"110101199001011234"));
        // A file an older version wrote in the clear, and one whose bytes no
        // longer match its name (left for `get` to report).
        let old = b"\x89PNG old signature".to_vec();
        let old_sha = sha256_hex(&old);
        let old_path = blobs.path_of(&old_sha).unwrap();
        fs::create_dir_all(old_path.parent().unwrap()).unwrap();
        fs::write(&old_path, &old).unwrap();
        let damaged_sha = sha256_hex(b"what it was");
        let damaged_path = blobs.path_of(&damaged_sha).unwrap();
        fs::create_dir_all(damaged_path.parent().unwrap()).unwrap();
        fs::write(&damaged_path, b"what it is now").unwrap();
        let blobs = BlobStore::open(dir.path(), seal()).unwrap();
        assert!(BlobSeal::is_sealed(&fs::read(&old_path).unwrap()));
        assert_eq!(blobs.get(&old_sha).unwrap(), old);
        assert_eq!(blobs.get(&sha).unwrap(), photo);
        assert_eq!(fs::read(&damaged_path).unwrap(), b"what it is now");
        assert!(matches!(blobs.get(&damaged_sha), Err(BlobError::Unreadable { .. })));
        assert_eq!(blobs.seal_plain_files().unwrap(), 0, "nothing left to seal");
        // Another key opens nothing.
        let other = BlobStore::open(dir.path(), DataKey::from_bytes([4; 32]).blob_seal()).unwrap();
        assert!(matches!(other.get(&sha), Err(BlobError::Unreadable { source: SealError::DoesNotOpen, .. })));
    }

    #[test]
    fn bad_names_and_missing_blobs_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path(), seal()).unwrap();
        assert!(matches!(blobs.get("../../etc/passwd"), Err(BlobError::BadHash(_))));
        let missing = sha256_hex(b"never stored");
        assert_eq!(blobs.get(&missing).unwrap_err().to_string(), format!("no stored file {missing}"));
    }

    #[test]
    fn interrupted_writes_leave_no_file_under_a_hash() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path(), seal()).unwrap();
        // A crash between write and rename leaves only a temporary file.
        fs::write(dir.path().join("tmp").join("deadbeef.123"), b"half a pho").unwrap();
        assert_eq!(blobs.remove_interrupted_writes().unwrap(), 1);
        let stored: Vec<_> =
            fs::read_dir(dir.path()).unwrap().flatten().filter(|e| e.file_name() != "tmp").collect();
        assert!(stored.is_empty());
    }
}
