//! Where a data folder's key is kept: one interface, one implementation per
//! platform.
//!
//! - [`KeyFile`]: a file with owner-only permissions, for the command line
//!   and for tests. By default it sits beside the data folder, not in it, so
//!   a copy of the folder alone is unreadable.
//! - [`PlatformKeystore`]: the platform's own store, through the `keyring`
//!   crate: the desktop's secret service on Linux and the BSDs (GNOME
//!   Keyring, KWallet, over D-Bus), the Keychain on macOS and iOS.
//! - On Android the Keystore needs the app's Kotlin glue, not written yet:
//!   the app keeps a key file in its private storage there (docs/security.md).
//!
//! A keystore holds one key, the data key of one data folder. Destroying it
//! makes that folder's store and blobs unreadable: the wipe of a lost phone.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::at_rest::DataKey;

/// Why a keystore could not give, keep or destroy the key.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// The key file can be read by others than its owner.
    #[error("the key file {path} can be read by others (mode {mode:o}): make it owner-only (chmod 600)")]
    TooOpen {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// What the keystore holds is not a 32-byte key.
    #[error("{keystore} holds {len} bytes where a 32-byte key should be")]
    Malformed {
        /// Which keystore.
        keystore: String,
        /// How many bytes it held.
        len: usize,
    },
    /// The keystore could not be reached or refused.
    #[error("{keystore} is not available: {reason}")]
    Unavailable {
        /// Which keystore.
        keystore: String,
        /// Why, as it said.
        reason: String,
    },
    /// A file system error around the key file.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Holds one data folder's key.
pub trait Keystore: Send + Sync + std::fmt::Debug {
    /// What this keystore is, for messages ("the key file …").
    fn describe(&self) -> String;
    /// The key, or `None` when none was ever kept (or it was destroyed).
    fn load(&self) -> Result<Option<DataKey>, KeystoreError>;
    /// Keeps `key` when no key is kept, and returns the key kept: `key`, or
    /// the one another process kept first (two starts on a new folder at
    /// once must not each encrypt under a key of their own).
    fn save_new(&self, key: &DataKey) -> Result<DataKey, KeystoreError>;
    /// Destroys the key; nothing to destroy is not an error.
    fn destroy(&self) -> Result<(), KeystoreError>;
}

fn key_of(keystore: &dyn Keystore, bytes: &[u8]) -> Result<DataKey, KeystoreError> {
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| KeystoreError::Malformed { keystore: keystore.describe(), len: bytes.len() })?;
    Ok(DataKey::from_bytes(bytes))
}

/// A key in a file only its owner may read (mode 0600), written whole or not
/// at all (a temporary file, fsynced, renamed, the folder fsynced).
#[derive(Debug, Clone)]
pub struct KeyFile {
    path: PathBuf,
}

impl KeyFile {
    /// The key file at `path`.
    pub fn at(path: impl Into<PathBuf>) -> KeyFile {
        KeyFile { path: path.into() }
    }

    /// The default key file of a data folder: `<folder>.key`, beside it.
    pub fn beside(data_dir: &Path) -> KeyFile {
        let mut name = data_dir.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "posfield".into());
        name.push(".key");
        KeyFile::at(data_dir.with_file_name(name))
    }

    /// Where the key is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self) -> impl FnOnce(std::io::Error) -> KeystoreError + '_ {
        move |source| KeystoreError::Io { path: self.path.clone(), source }
    }
}

impl Keystore for KeyFile {
    fn describe(&self) -> String {
        format!("the key file {}", self.path.display())
    }

    fn load(&self) -> Result<Option<DataKey>, KeystoreError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => zeroize::Zeroizing::new(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io()(e)),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&self.path).map_err(self.io())?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeystoreError::TooOpen { path: self.path.clone(), mode });
            }
        }
        key_of(self, &bytes).map(Some)
    }

    fn save_new(&self, key: &DataKey) -> Result<DataKey, KeystoreError> {
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(self.io())?;
        let tmp = self.path.with_extension(format!("key-new.{}", std::process::id()));
        // A temporary file a crash left is removed, never reused with its mode.
        let _ = fs::remove_file(&tmp);
        let write = || -> std::io::Result<bool> {
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&tmp)?;
            file.write_all(key.bytes())?;
            file.sync_all()?;
            // A hard link, unlike a rename, never replaces a key kept first.
            let kept = match fs::hard_link(&tmp, &self.path) {
                Ok(()) => true,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
                Err(e) => return Err(e),
            };
            fs::remove_file(&tmp)?;
            fs::File::open(dir)?.sync_all()?;
            Ok(kept)
        };
        match write() {
            Ok(true) => Ok(key.clone()),
            Ok(false) => {
                self.load()?.ok_or_else(|| KeystoreError::Malformed { keystore: self.describe(), len: 0 })
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(self.io()(e))
            }
        }
    }

    fn destroy(&self) -> Result<(), KeystoreError> {
        // Overwrite before unlinking: on a plain file system the old blocks
        // then no longer hold the key (flash may still keep a copy; the
        // platform keystores do not have that weakness).
        if let Ok(mut file) = fs::OpenOptions::new().write(true).open(&self.path) {
            let _ = file.write_all(&[0u8; 32]).and_then(|()| file.sync_all());
        }
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io()(e)),
        }
    }
}

#[cfg(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "macos",
    target_os = "ios"
))]
mod platform {
    use std::path::Path;

    use super::{DataKey, Keystore, KeystoreError, key_of};

    /// The platform's keystore, one entry per data folder: the freedesktop
    /// Secret Service over D-Bus (GNOME Keyring, KWallet) on Linux and the BSDs,
    /// the Keychain on macOS and iOS. Tested here against GNOME Keyring; the
    /// Keychain is the same `keyring` API, built for Apple targets only.
    #[derive(Debug, Clone)]
    pub struct PlatformKeystore {
        account: String,
    }

    impl PlatformKeystore {
        /// The service name every Posfield entry is filed under.
        pub const SERVICE: &'static str = "posfield";

        /// The entry of the data folder at `data_dir`, named by a hash of its
        /// full path (two data folders on one desktop have two keys).
        pub fn for_data_dir(data_dir: &Path) -> PlatformKeystore {
            use sha2::Digest;
            let full = data_dir.canonicalize().unwrap_or_else(|_| data_dir.to_owned());
            let digest = sha2::Sha256::digest(full.to_string_lossy().as_bytes());
            PlatformKeystore { account: format!("data key {}", &hex::encode(digest)[..16]) }
        }

        fn entry(&self) -> Result<keyring::Entry, KeystoreError> {
            keyring::Entry::new(Self::SERVICE, &self.account).map_err(|e| self.unavailable(e))
        }

        fn unavailable(&self, error: keyring::Error) -> KeystoreError {
            KeystoreError::Unavailable { keystore: self.describe(), reason: error.to_string() }
        }
    }

    impl Keystore for PlatformKeystore {
        fn describe(&self) -> String {
            format!("the platform's keystore ({} / {})", Self::SERVICE, self.account)
        }

        fn load(&self) -> Result<Option<DataKey>, KeystoreError> {
            match self.entry()?.get_secret() {
                Ok(bytes) => key_of(self, &zeroize::Zeroizing::new(bytes)).map(Some),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(e) => Err(self.unavailable(e)),
            }
        }

        fn save_new(&self, key: &DataKey) -> Result<DataKey, KeystoreError> {
            // The platform's stores have no "create if absent": look first. Two
            // starts racing within that window is left to the app, which opens
            // its folder once before the background sync opens it again.
            if let Some(kept) = self.load()? {
                return Ok(kept);
            }
            self.entry()?.set_secret(key.bytes()).map_err(|e| self.unavailable(e))?;
            Ok(key.clone())
        }

        fn destroy(&self) -> Result<(), KeystoreError> {
            match self.entry()?.delete_credential() {
                Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                Err(e) => Err(self.unavailable(e)),
            }
        }
    }
}

#[cfg(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "macos",
    target_os = "ios"
))]
pub use platform::PlatformKeystore;

/// The platform's keystore for the data folder at `data_dir`, where this
/// build has one (Linux and the BSDs, macOS, iOS); `None` elsewhere.
pub fn platform_keystore(data_dir: &Path) -> Option<std::sync::Arc<dyn Keystore>> {
    #[cfg(any(
        target_os = "linux",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "macos",
        target_os = "ios"
    ))]
    return Some(std::sync::Arc::new(PlatformKeystore::for_data_dir(data_dir)));
    #[allow(unreachable_code)]
    {
        let _ = data_dir;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_keeps_the_key_owner_only_and_destroys_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = KeyFile::beside(&dir.path().join("agent"));
        assert_eq!(file.path(), dir.path().join("agent.key"));
        assert!(file.load().unwrap().is_none());
        let key = DataKey::generate();
        assert_eq!(file.save_new(&key).unwrap().bytes(), key.bytes());
        assert_eq!(file.load().unwrap().unwrap().bytes(), key.bytes());
        // A second start keeps the first key, not its own.
        assert_eq!(file.save_new(&DataKey::generate()).unwrap().bytes(), key.bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(file.path()).unwrap().permissions().mode() & 0o777, 0o600);
        }
        // Only the key is left in the folder: no temporary file.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        file.destroy().unwrap();
        assert!(file.load().unwrap().is_none());
        file.destroy().unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_or_of_the_wrong_size_is_refused_with_words() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = KeyFile::at(dir.path().join("agent.key"));
        file.save_new(&DataKey::generate()).unwrap();
        fs::set_permissions(file.path(), fs::Permissions::from_mode(0o644)).unwrap();
        let error = file.load().unwrap_err();
        assert!(matches!(error, KeystoreError::TooOpen { mode: 0o644, .. }), "{error}");
        assert!(error.to_string().contains("chmod 600"), "{error}");
        fs::write(file.path(), b"short").unwrap();
        fs::set_permissions(file.path(), fs::Permissions::from_mode(0o600)).unwrap();
        let error = file.load().unwrap_err();
        assert!(matches!(error, KeystoreError::Malformed { len: 5, .. }), "{error}");
    }
}
