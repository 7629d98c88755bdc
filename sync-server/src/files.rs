//! Files the server writes whole: its keys and its sealed blobs. Each is
//! written beside its place under a name of its own, readable by the
//! server's user only, made durable and renamed in, and the folder synced,
//! so a crash at any instant leaves the old file or the new one, never
//! half of either.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The part of a temporary file's name that marks it as one: a file whose
/// name contains it was being written when the server stopped.
pub const WRITING_MARK: &str = ".writing-";

/// Writes `bytes` to `path` durably, readable by the owner only (see the
/// module's doc). On failure the temporary file is removed and `path` is
/// as it was.
pub fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let partial = temporary_beside(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = (|| {
        let mut file = options.open(&partial)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&partial, path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

/// A name beside `path` no other writer uses.
fn temporary_beside(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!("{name}{WRITING_MARK}{}", uuid::Uuid::new_v4().simple()))
}

/// The text of the file at `path`, or `None` when there is none.
pub fn read_text_if_any(path: &Path) -> std::io::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_durable_write_replaces_the_file_whole_owner_only_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write_durably(&path, b"first").unwrap();
        write_durably(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "readable by others: {mode:o}");
        }
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["secret"]);
        assert_eq!(read_text_if_any(&dir.path().join("none")).unwrap(), None);
        // A folder that is not there: an error, and nothing written.
        assert!(write_durably(&dir.path().join("missing/secret"), b"x").is_err());
    }
}
