//! `posfield-server backup DEST`: an online, consistent backup of an
//! embedded install while its server runs in another process.
//!
//! The order makes it consistent: first the database, as it is at one
//! moment (the store engine's own online copy), then the blob files,
//! then the key files. A blob is stored before the database row that
//! counts it, and a blob a visit refers to is never deleted, so every
//! blob the copied database refers to or counts is still there when the
//! blobs are copied after it; a blob that arrives later is copied too,
//! or not, and is uploaded again by its phone when the restored server
//! names it missing. Blob files are copied as they are: sealed at rest,
//! they stay sealed, and the blob keys that open them are in the backup.
//! Thumbnails are not copied (they are made again on first view), nor
//! partial uploads (the phone resumes them from the start).
//!
//! Everything is written into a temporary folder beside DEST, made
//! durable, and renamed to DEST at the end, so a backup cut part way
//! never looks whole. DEST must be absent or an empty folder. The
//! backup holds the keys: it is as secret as the data folder, and its
//! files are readable by their owner only.
//!
//! A restore is a server started with `--data DEST`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::store::StoreError;

/// The manifest's file name in a backup.
pub const MANIFEST: &str = "backup.json";

/// The database's file name in a data folder (and a backup).
pub const DATABASE: &str = "posfield.db";

/// What a copy of the database holds, counted in the copy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DatabaseCounts {
    /// Visits projected.
    pub visits: u64,
    /// Agents.
    pub agents: u64,
    /// Devices enrolled (revoked ones included).
    pub devices: u64,
    /// Back-office users.
    pub users: u64,
    /// Terminals the register or the visits know.
    pub terminals: u64,
    /// Blobs received whole.
    pub blobs_received: u64,
    /// Distinct blobs the visits refer to.
    pub blobs_referenced: u64,
}

/// The manifest written beside the copy (`backup.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manifest {
    /// The version of the server that made the backup.
    pub server_version: String,
    /// When the backup began (Unix seconds).
    pub made_at: i64,
    /// The same, in Beijing time, for people.
    pub made_at_beijing: String,
    /// What the database copy holds.
    pub database: DatabaseCounts,
    /// Blob files copied (one per blob hash).
    pub blob_files: u64,
    /// Key files copied.
    pub key_files: Vec<String>,
}

/// Why a backup was not made. Nothing is left at DEST then.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// DEST holds something.
    #[error("the backup folder {0} is not empty: a backup is written into an empty or new folder")]
    NotEmpty(PathBuf),
    /// DEST names no folder that can be made.
    #[error("{0} cannot be a backup folder: it names no folder of its own")]
    BadDestination(PathBuf),
    /// The data folder has no database.
    #[error("the data folder {0} holds no database: nothing to back up")]
    NoDatabase(PathBuf),
    /// A file could not be read or written.
    #[error("the backup failed at {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The database could not be copied.
    #[error("the database could not be copied: {0}")]
    Store(#[from] StoreError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io { path: path.to_owned(), source }
}

/// Backs up the data folder `data` into `dest` at `now` (Unix seconds):
/// `copy_database` writes the database's online copy to the path it is
/// given (the engine's [`crate::store::sqlite::SqliteStore::backup_to`]),
/// then the blobs and the key files are copied, the manifest written and
/// the whole renamed into place.
pub fn run(
    data: &Path,
    dest: &Path,
    now: i64,
    copy_database: impl FnOnce(&Path) -> Result<DatabaseCounts, StoreError>,
) -> Result<Manifest, BackupError> {
    if !data.join(DATABASE).is_file() {
        return Err(BackupError::NoDatabase(data.to_owned()));
    }
    check_destination(dest)?;
    let name = dest.file_name().ok_or_else(|| BackupError::BadDestination(dest.to_owned()))?;
    let parent = match dest.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let partial = parent.join(format!(
        ".{}.partial-{}",
        name.to_string_lossy(),
        hex::encode(crate::auth::random_bytes::<4>())
    ));
    make_folder(&partial)?;
    let made = fill(data, &partial, now, copy_database).and_then(|manifest| {
        sync_folder(&partial)?;
        // Checked again: something may have been put there meanwhile.
        check_destination(dest)?;
        std::fs::rename(&partial, dest).map_err(io(dest))?;
        sync_folder(&parent)?;
        Ok(manifest)
    });
    if made.is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    made
}

/// Refuses a DEST that exists and is not an empty folder.
fn check_destination(dest: &Path) -> Result<(), BackupError> {
    match std::fs::read_dir(dest) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(BackupError::NotEmpty(dest.to_owned())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) if dest.exists() => Err(BackupError::NotEmpty(dest.to_owned())),
        Err(e) => Err(BackupError::Io { path: dest.to_owned(), source: e }),
    }
}

/// The backup's contents, written into the folder `into`.
fn fill(
    data: &Path,
    into: &Path,
    now: i64,
    copy_database: impl FnOnce(&Path) -> Result<DatabaseCounts, StoreError>,
) -> Result<Manifest, BackupError> {
    // The database first: every blob it counts is on disk already.
    let database = copy_database(&into.join(DATABASE))?;
    owner_only(&into.join(DATABASE))?;
    let blob_files =
        copy_blobs(&data.join(crate::blobs::BLOB_FOLDER), &into.join(crate::blobs::BLOB_FOLDER))?;
    let mut key_files = Vec::new();
    for key_file in [crate::server_key::KEY_FILE, crate::blob_key::KEY_FILE] {
        let from = data.join(key_file);
        if from.is_file() {
            copy_file(&from, &into.join(key_file))?;
            key_files.push(key_file.to_owned());
        }
    }
    let manifest = Manifest {
        server_version: env!("CARGO_PKG_VERSION").to_owned(),
        made_at: now,
        made_at_beijing: posfield_shared::Timestamp::from_seconds(now).beijing_words(),
        database,
        blob_files,
        key_files,
    };
    let text = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| BackupError::Io { path: into.join(MANIFEST), source: std::io::Error::other(e) })?;
    crate::files::write_durably(&into.join(MANIFEST), &text).map_err(io(&into.join(MANIFEST)))?;
    Ok(manifest)
}

/// Copies every whole blob of the blob folder `from` (`xx/<sha256>`) into
/// `to`, in the same layout; partial uploads and temporary files are left.
/// Returns how many.
fn copy_blobs(from: &Path, to: &Path) -> Result<u64, BackupError> {
    make_folder(to)?;
    let mut copied = 0;
    let folders = match std::fs::read_dir(from) {
        Ok(folders) => folders,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(BackupError::Io { path: from.to_owned(), source: e }),
    };
    for folder in folders {
        let folder = folder.map_err(io(from))?;
        let prefix = folder.file_name().to_string_lossy().into_owned();
        if !(prefix.len() == 2 && prefix.bytes().all(|b| b.is_ascii_hexdigit()) && folder.path().is_dir()) {
            continue;
        }
        let target = to.join(&prefix);
        make_folder(&target)?;
        for file in std::fs::read_dir(folder.path()).map_err(io(&folder.path()))? {
            let file = file.map_err(io(&folder.path()))?;
            let name = file.file_name().to_string_lossy().into_owned();
            if posfield_shared::BlobHash::parse(&name).is_err() || !name.starts_with(&prefix) {
                continue;
            }
            match copy_file(&file.path(), &target.join(&name)) {
                Ok(()) => copied += 1,
                // Collected meanwhile: no visit of the copy refers to it.
                Err(BackupError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        sync_folder(&target)?;
    }
    sync_folder(to)?;
    Ok(copied)
}

/// Copies a file, made durable and readable by its owner only.
fn copy_file(from: &Path, to: &Path) -> Result<(), BackupError> {
    let mut source = std::fs::File::open(from).map_err(io(from))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut copy = options.open(to).map_err(io(to))?;
    std::io::copy(&mut source, &mut copy).map_err(io(to))?;
    copy.sync_all().map_err(io(to))?;
    Ok(())
}

/// Makes a file readable by its owner only.
fn owner_only(path: &Path) -> Result<(), BackupError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io(path))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Makes a folder readable by its owner only.
fn make_folder(path: &Path) -> Result<(), BackupError> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path).map_err(io(path))
}

/// Makes a folder's entries durable.
fn sync_folder(path: &Path) -> Result<(), BackupError> {
    std::fs::File::open(path).and_then(|folder| folder.sync_all()).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A data folder with a database file, two blobs, a partial upload, a
    /// temporary file and both key files.
    fn data_folder(dir: &Path) -> PathBuf {
        let data = dir.join("data");
        let sha = |c: char| c.to_string().repeat(64);
        for (sha, bytes) in [(sha('a'), b"sealed a".as_slice()), (sha('b'), b"sealed b")] {
            let folder = data.join("blobs").join(&sha[..2]);
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join(&sha), bytes).unwrap();
        }
        let aa = data.join("blobs/aa");
        std::fs::write(aa.join(format!("{}{}x", sha('a'), crate::files::WRITING_MARK)), b"cut").unwrap();
        std::fs::create_dir_all(data.join("blobs/partial/someone")).unwrap();
        std::fs::write(data.join("blobs/partial/someone").join(sha('c')), b"half").unwrap();
        std::fs::write(data.join(DATABASE), b"the database").unwrap();
        std::fs::write(data.join(crate::server_key::KEY_FILE), b"signing key").unwrap();
        std::fs::write(data.join(crate::blob_key::KEY_FILE), b"blob keys").unwrap();
        data
    }

    fn copy_database(data: &Path) -> impl FnOnce(&Path) -> Result<DatabaseCounts, StoreError> + '_ {
        move |to| {
            std::fs::copy(data.join(DATABASE), to).map_err(|e| StoreError::Engine(e.to_string()))?;
            Ok(DatabaseCounts { visits: 2, ..DatabaseCounts::default() })
        }
    }

    #[test]
    fn a_backup_holds_the_database_whole_blobs_and_keys_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let data = data_folder(dir.path());
        let dest = dir.path().join("backup");
        let manifest = run(&data, &dest, 1_795_000_000, copy_database(&data)).unwrap();
        assert_eq!((manifest.blob_files, manifest.database.visits), (2, 2));
        assert_eq!(manifest.key_files, [crate::server_key::KEY_FILE, crate::blob_key::KEY_FILE]);
        assert_eq!(std::fs::read(dest.join(DATABASE)).unwrap(), b"the database");
        assert_eq!(std::fs::read(dest.join("blobs/bb").join("b".repeat(64))).unwrap(), b"sealed b");
        assert_eq!(std::fs::read_dir(dest.join("blobs/aa")).unwrap().count(), 1, "no temporary file");
        assert!(!dest.join("blobs/partial").exists(), "no partial upload");
        let written: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dest.join(MANIFEST)).unwrap()).unwrap();
        assert_eq!(written["server_version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(written["made_at"], 1_795_000_000);
        #[cfg(unix)]
        for file in [crate::server_key::KEY_FILE, crate::blob_key::KEY_FILE, DATABASE] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dest.join(file)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{file} is readable by others: {mode:o}");
        }
        // Only the backup beside it: the temporary folder was renamed.
        let beside: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(!beside.iter().any(|name| name.contains("partial")), "{beside:?}");
    }

    #[test]
    fn a_folder_that_holds_something_or_a_failed_copy_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let data = data_folder(dir.path());
        let full = dir.path().join("full");
        std::fs::create_dir(&full).unwrap();
        std::fs::write(full.join("keep.txt"), b"mine").unwrap();
        let refused = run(&data, &full, 0, copy_database(&data)).unwrap_err();
        assert!(
            matches!(refused, BackupError::NotEmpty(_)) && refused.to_string().contains("full"),
            "{refused}"
        );
        assert_eq!(std::fs::read(full.join("keep.txt")).unwrap(), b"mine");
        // An empty folder is taken.
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        run(&data, &empty, 0, copy_database(&data)).unwrap();
        // A database that cannot be copied: no DEST, no temporary folder.
        let failed = dir.path().join("failed");
        let refused =
            run(&data, &failed, 0, |_| Err(StoreError::Engine("disk full".into()))).unwrap_err().to_string();
        assert!(refused.contains("disk full"), "{refused}");
        assert!(!failed.exists());
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(!left.iter().any(|name| name.contains("partial")), "{left:?}");
        // No database, no backup.
        let refused =
            run(&dir.path().join("nothing"), &dir.path().join("b2"), 0, copy_database(&data)).unwrap_err();
        assert!(matches!(refused, BackupError::NoDatabase(_)), "{refused}");
    }
}
