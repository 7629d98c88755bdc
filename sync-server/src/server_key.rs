//! The server's signing key: the Ed25519 key that countersigns each
//! acceptance. It lives in a file of its own in the data folder
//! (`server-signing.key`, readable by the server's user only), not in the
//! database, so a copy of the database (a backup, a dump handed to someone
//! to debug) carries no key that can sign.
//!
//! A server that kept its key in the database (before this file existed)
//! moves it out at its next start: the file is written first, then one
//! transaction records the key's public half on every countersignature
//! made so far (there was only that key) and deletes the setting; a crash
//! between the two finds the file and finishes the move.
//!
//! `posfield-server rotate-signing-key` replaces the key. Each
//! countersignature records the public key that made it, so one made
//! before a rotation stays verifiable by its own key; the old secret is
//! not kept.

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;

use crate::store::{AuditEntry, COMMAND_LINE, Store, StoreError};

/// The key file's name in the data folder.
pub const KEY_FILE: &str = "server-signing.key";

/// The setting that held the key before it moved to its file.
const OLD_SETTING: &str = "server_signing_key";

/// Why the key could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read or written.
    #[error("the server's signing key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The key file holds no key.
    #[error(
        "the server's signing key file {0} does not hold 64 hex digits; restore it from a backup, or move it away to start with a new key"
    )]
    Malformed(PathBuf),
    /// The key file is missing while the store holds visits, whose
    /// countersignatures another key made: a node started on a shared
    /// database with an empty data folder, or a database restored without
    /// its key files.
    #[error(
        "the server's signing key file {0} is missing but the database already holds visits; copy the key files (server-signing.key and server-blob.keys) from the first node's data folder, or restore them from a backup"
    )]
    MissingWithVisits(PathBuf),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The key file's path in `data`.
pub fn key_path(data: &Path) -> PathBuf {
    data.join(KEY_FILE)
}

/// The server's signing key from its file in `data`, moving it out of the
/// database first if it is still there, or a new one on first start. A
/// store that already holds visits without the file is refused rather than
/// given a new key: another node of a shared database made the key its
/// countersignatures carry, and every node must sign with it.
pub async fn load_or_create(store: &dyn Store, data: &Path) -> Result<SigningKey, KeyError> {
    let path = key_path(data);
    let key = match read_key(&path)? {
        Some(key) => key,
        None => {
            let key = match store.setting(OLD_SETTING).await?.as_deref().and_then(parse_hex) {
                Some(old) => old,
                None if store.has_visits().await? => return Err(KeyError::MissingWithVisits(path)),
                None => SigningKey::from_bytes(&crate::auth::random_bytes::<32>()),
            };
            write_key(&path, &key)?;
            key
        }
    };
    if store.setting(OLD_SETTING).await?.is_some() {
        store.signing_key_moved_out(OLD_SETTING, &public_hex(&key)).await?;
        tracing::info!(file = %path.display(), "the server's signing key moved out of the database");
    }
    Ok(key)
}

/// Replaces the key in `data` with a new one and audits it; the running
/// server takes it at its next start. Returns the new public key (hex).
pub async fn rotate(store: &dyn Store, data: &Path) -> Result<String, KeyError> {
    // A key still in the database is moved out first, so the
    // countersignatures it made record it before it is replaced.
    let old = load_or_create(store, data).await?;
    let key = SigningKey::from_bytes(&crate::auth::random_bytes::<32>());
    write_key(&key_path(data), &key)?;
    let detail = format!("{} replaced by {}", public_hex(&old), public_hex(&key));
    store.audit(AuditEntry::new(None, COMMAND_LINE, "rotate_signing_key", &detail)).await?;
    Ok(public_hex(&key))
}

/// The public half of `key`, lowercase hex.
pub fn public_hex(key: &SigningKey) -> String {
    hex::encode(key.verifying_key().to_bytes())
}

fn parse_hex(text: &str) -> Option<SigningKey> {
    let bytes = hex::decode(text.trim()).ok()?;
    Some(SigningKey::from_bytes(&<[u8; 32]>::try_from(bytes).ok()?))
}

fn read_key(path: &Path) -> Result<Option<SigningKey>, KeyError> {
    match crate::files::read_text_if_any(path) {
        Ok(Some(text)) => parse_hex(&text).map(Some).ok_or_else(|| KeyError::Malformed(path.to_owned())),
        Ok(None) => Ok(None),
        Err(source) => Err(KeyError::Io { path: path.to_owned(), source }),
    }
}

/// Writes the key durably, readable by the owner only: a crash leaves the
/// old file or the new one ([`crate::files::write_durably`]).
fn write_key(path: &Path, key: &SigningKey) -> Result<(), KeyError> {
    crate::files::write_durably(path, format!("{}\n", hex::encode(key.to_bytes())).as_bytes())
        .map_err(|source| KeyError::Io { path: path.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn store(dir: &Path) -> crate::store::sqlite::SqliteStore {
        crate::store::sqlite::SqliteStore::open(&dir.join("posfield.db")).unwrap()
    }

    #[tokio::test]
    async fn a_key_in_the_database_moves_to_an_owner_only_file_and_leaves_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let old = SigningKey::from_bytes(&[7u8; 32]);
        store.set_setting(OLD_SETTING, &hex::encode(old.to_bytes())).await.unwrap();

        let key = load_or_create(&store, dir.path()).await.unwrap();
        assert_eq!(key.to_bytes(), old.to_bytes(), "the same key, moved");
        assert_eq!(store.setting(OLD_SETTING).await.unwrap(), None, "no secret left in the database");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(key_path(dir.path())).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the key file is readable by others: {mode:o}");
        }
        // Later starts read the file.
        let again = load_or_create(&store, dir.path()).await.unwrap();
        assert_eq!(again.to_bytes(), old.to_bytes());
    }

    #[tokio::test]
    async fn a_crash_after_the_file_was_written_finishes_the_move_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let old = SigningKey::from_bytes(&[9u8; 32]);
        store.set_setting(OLD_SETTING, &hex::encode(old.to_bytes())).await.unwrap();
        write_key(&key_path(dir.path()), &old).unwrap();
        let key = load_or_create(&store, dir.path()).await.unwrap();
        assert_eq!(key.to_bytes(), old.to_bytes());
        assert_eq!(store.setting(OLD_SETTING).await.unwrap(), None);
    }

    #[tokio::test]
    async fn rotation_replaces_the_key_and_audits_both_public_halves() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let first = load_or_create(&store, dir.path()).await.unwrap();
        let new_public = rotate(&store, dir.path()).await.unwrap();
        let second = load_or_create(&store, dir.path()).await.unwrap();
        assert_ne!(first.to_bytes(), second.to_bytes());
        assert_eq!(public_hex(&second), new_public);
        let audit = store.audit_log(None, 10).await.unwrap();
        let row = audit.iter().find(|r| r.entry.action == "rotate_signing_key").expect("an audit row");
        assert_eq!(row.entry.actor, COMMAND_LINE);
        assert_eq!(row.entry.detail, format!("{} replaced by {new_public}", public_hex(&first)));
    }

    #[tokio::test]
    async fn a_folder_without_the_key_on_a_store_with_visits_is_refused_and_no_key_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let row = crate::store::tests::row("visit-1", "wang", "wang", &[]);
        store.write_projections(vec![row], Vec::new()).await.unwrap();
        let error = load_or_create(&store, dir.path()).await.unwrap_err();
        assert!(matches!(error, KeyError::MissingWithVisits(_)), "{error}");
        assert!(error.to_string().contains("copy the key files"), "{error}");
        assert!(!key_path(dir.path()).exists(), "a new key was written");
    }

    #[test]
    fn a_damaged_key_file_is_refused_with_words_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(key_path(dir.path()), "not a key").unwrap();
        let error = read_key(&key_path(dir.path())).unwrap_err();
        assert!(error.to_string().contains("does not hold 64 hex digits"), "{error}");
        assert_eq!(std::fs::read_to_string(key_path(dir.path())).unwrap(), "not a key");
    }
}
