//! The blob key: the key the server seals stored photos, signatures and
//! thumbnails with, and the sealed format.
//!
//! The keys live in a file of their own in the data folder
//! (`server-blob.keys`, readable by the server's user only), not in the
//! database and not in the blob folder, so a copy of the blob folder or of
//! the database alone opens no photo. Each line is one key: its id (8 hex
//! digits, random) and its 32 bytes (64 hex digits); the last line is the
//! key new blobs are sealed with, and every line still opens what it
//! sealed. `posfield-server rotate-blob-key` appends a new line.
//!
//! A sealed file is a header, then the blob's bytes encrypted with
//! ChaCha20-Poly1305 (ring) and the 16-byte tag:
//!
//! | bytes | what |
//! |---|---|
//! | 0..6 | `PFSEAL`, the magic |
//! | 6 | 1, the format's version |
//! | 7..11 | the id of the key that sealed it, big-endian |
//! | 11..23 | the nonce, 12 random bytes, new for every file |
//! | 23.. | the ciphertext, then the tag |
//!
//! The associated data is the header's first 11 bytes and a label naming
//! what the file is (a blob's label is its SHA-256, the content address of
//! its plain bytes), so a sealed file moved under another blob's name, or
//! given another key id, does not open.

use std::fmt;
use std::path::{Path, PathBuf};

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use crate::store::{AuditEntry, COMMAND_LINE, Store, StoreError};

/// The key file's name in the data folder.
pub const KEY_FILE: &str = "server-blob.keys";

/// The first bytes of every sealed file.
pub const MAGIC: &[u8; 6] = b"PFSEAL";

/// The sealed format's version this code writes and reads.
const VERSION: u8 = 1;

/// Bytes of the header before the nonce: magic, version, key id.
const PREFIX_LEN: usize = MAGIC.len() + 1 + 4;

/// Bytes of the whole header.
pub const HEADER_LEN: usize = PREFIX_LEN + NONCE_LEN;

/// Bytes a sealed file has more than the plain bytes it holds.
pub const OVERHEAD: usize = HEADER_LEN + 16;

/// Why the keys could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read or written.
    #[error("the blob key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// A line of the key file is not a key.
    #[error(
        "the blob key file {path}, line {line}, is not a key id (8 hex digits) and a key (64 hex digits); restore the file from a backup"
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The line, counted from 1.
        line: usize,
    },
    /// The key file is gone while sealed blobs are stored: a new key would
    /// open none of them.
    #[error(
        "the blob key file {path} is missing but {sealed} is sealed: restore the key file from its backup (a new key would open no stored photo)"
    )]
    Lost {
        /// The key file.
        path: PathBuf,
        /// A sealed file found.
        sealed: PathBuf,
    },
    /// The key file lacks the key the other nodes of a shared bucket seal
    /// with: this node's own keys would seal photos they cannot open.
    #[error(
        "the blob key file {path} does not hold key {id:08x}, which the servers sharing this database and bucket seal with; copy server-blob.keys (and server-signing.key) from the first node's data folder, or from the node where the key was rotated"
    )]
    NotShared {
        /// The key file.
        path: PathBuf,
        /// The id of the key the database names.
        id: u32,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a sealed file does not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The bytes do not start with the sealed format's magic.
    #[error("not sealed (no PFSEAL header)")]
    NotSealed,
    /// A header of a version this code does not read.
    #[error("sealed in format version {0}, which this server does not read")]
    Version(u8),
    /// Shorter than a header and a tag.
    #[error("cut short: {0} bytes, fewer than a header and a tag")]
    Truncated(usize),
    /// Sealed under a key the key file does not hold.
    #[error(
        "sealed under blob key {0:08x}, which is not in the blob key file; restore the key file that holds it"
    )]
    UnknownKey(u32),
    /// The tag does not match: the file was changed, or is another file's.
    #[error("the file was changed, cut or moved: its tag does not match")]
    Tampered,
}

/// One key and its id.
struct BlobKey {
    id: u32,
    key: LessSafeKey,
}

/// The blob keys: the last one seals, every one opens what it sealed.
/// The key bytes are never shown: `Debug` prints the ids alone.
pub struct BlobKeys {
    keys: Vec<BlobKey>,
}

impl fmt::Debug for BlobKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<String> = self.keys.iter().map(|k| format!("{:08x}", k.id)).collect();
        f.debug_struct("BlobKeys").field("ids", &ids).finish_non_exhaustive()
    }
}

impl BlobKeys {
    /// A single new key, kept in memory only (tests and benchmarks).
    pub fn generate() -> BlobKeys {
        let id = new_id(&BlobKeys { keys: Vec::new() });
        BlobKeys::from_lines(&[(id, crate::auth::random_bytes::<32>())])
    }

    /// The id of the key new files are sealed with.
    pub fn current_id(&self) -> u32 {
        self.keys.last().map_or(0, |k| k.id)
    }

    fn add(&mut self, id: u32, bytes: &[u8; 32]) {
        let key = UnboundKey::new(&CHACHA20_POLY1305, bytes).expect("32 bytes is a ChaCha20-Poly1305 key");
        self.keys.push(BlobKey { id, key: LessSafeKey::new(key) });
    }

    /// `plain` sealed under the current key, for the file named by `label`.
    pub fn seal(&self, label: &[u8], plain: &[u8]) -> Vec<u8> {
        let key = self.keys.last().expect("a key ring holds at least one key");
        let nonce = crate::auth::random_bytes::<NONCE_LEN>();
        let mut sealed = Vec::with_capacity(plain.len() + OVERHEAD);
        sealed.extend_from_slice(MAGIC);
        sealed.push(VERSION);
        sealed.extend_from_slice(&key.id.to_be_bytes());
        sealed.extend_from_slice(&nonce);
        let aad = associated_data(&sealed[..PREFIX_LEN], label);
        sealed.extend_from_slice(plain);
        let mut body = sealed.split_off(HEADER_LEN);
        key.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&aad), &mut body)
            .expect("a blob within the size limit seals");
        sealed.append(&mut body);
        sealed
    }

    /// The plain bytes of `sealed`, the file named by `label`.
    pub fn open(&self, label: &[u8], mut sealed: Vec<u8>) -> Result<Vec<u8>, OpenError> {
        if !is_sealed(&sealed) {
            return Err(OpenError::NotSealed);
        }
        if sealed.len() < OVERHEAD {
            return Err(OpenError::Truncated(sealed.len()));
        }
        if sealed[MAGIC.len()] != VERSION {
            return Err(OpenError::Version(sealed[MAGIC.len()]));
        }
        let id = u32::from_be_bytes(sealed[MAGIC.len() + 1..PREFIX_LEN].try_into().expect("4 bytes"));
        let key = self.keys.iter().find(|k| k.id == id).ok_or(OpenError::UnknownKey(id))?;
        let nonce: [u8; NONCE_LEN] = sealed[PREFIX_LEN..HEADER_LEN].try_into().expect("a nonce's bytes");
        let aad = associated_data(&sealed[..PREFIX_LEN], label);
        let plain_len = key
            .key
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(&aad), &mut sealed[HEADER_LEN..])
            .map_err(|_| OpenError::Tampered)?
            .len();
        sealed.drain(..HEADER_LEN);
        sealed.truncate(plain_len);
        Ok(sealed)
    }
}

/// Whether `bytes` start like a sealed file.
pub fn is_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

fn associated_data(prefix: &[u8], label: &[u8]) -> Vec<u8> {
    [prefix, label].concat()
}

/// A random key id no key of `keys` has.
fn new_id(keys: &BlobKeys) -> u32 {
    loop {
        let id = u32::from_be_bytes(crate::auth::random_bytes::<4>());
        if id != 0 && keys.keys.iter().all(|k| k.id != id) {
            return id;
        }
    }
}

/// One line of the key file: a key's id and its bytes.
type KeyLine = (u32, [u8; 32]);

/// The key file's path in `data`.
pub fn key_path(data: &Path) -> PathBuf {
    data.join(KEY_FILE)
}

/// The blob keys from their file in `data`, or a new file with one key on
/// first start. A missing file while `blob_folder` holds sealed files is
/// refused rather than replaced.
pub fn load_or_create(data: &Path, blob_folder: &Path) -> Result<BlobKeys, KeyError> {
    let path = key_path(data);
    if let Some(keys) = read_keys(&path)? {
        return Ok(keys);
    }
    if let Some(sealed) = first_sealed_file(blob_folder) {
        return Err(KeyError::Lost { path, sealed });
    }
    let lines = [(new_id(&BlobKeys { keys: Vec::new() }), crate::auth::random_bytes::<32>())];
    write_keys(&path, &lines)?;
    let keys = BlobKeys::from_lines(&lines);
    tracing::info!(file = %path.display(), key = format!("{:08x}", keys.current_id()), "a new blob key");
    Ok(keys)
}

/// The setting naming the key the servers of a shared bucket seal with.
const SEALING_SETTING: &str = "blob_key_sealing";

/// Checks, for a bucket several nodes share, that this node's keys (from
/// the file in `data`; `None` before the file is made) hold the key the
/// database says the nodes seal with, and records this node's current key
/// there when none is named yet or this node's is newer (rotated here). A
/// node whose file lacks the named key is refused: started with an empty
/// data folder before any photo arrived, it would make a key of its own and
/// seal photos the other nodes cannot open.
pub async fn check_shared(store: &dyn Store, data: &Path, keys: Option<&BlobKeys>) -> Result<(), KeyError> {
    let named = store.setting(SEALING_SETTING).await?.and_then(|v| u32::from_str_radix(v.trim(), 16).ok());
    let Some(keys) = keys else {
        return named.map_or(Ok(()), |id| Err(KeyError::NotShared { path: key_path(data), id }));
    };
    if let Some(id) = named {
        if !keys.keys.iter().any(|k| k.id == id) {
            return Err(KeyError::NotShared { path: key_path(data), id });
        }
        if id == keys.current_id() {
            return Ok(());
        }
    }
    store.set_setting(SEALING_SETTING, &format!("{:08x}", keys.current_id())).await?;
    Ok(())
}

/// The blob keys from their file in `data`, writing nothing: without the
/// file, keys made in memory that open nothing (plain blobs are read by
/// their hash), or, while `blob_folder` holds sealed files, an error.
pub fn load(data: &Path, blob_folder: &Path) -> Result<BlobKeys, KeyError> {
    let path = key_path(data);
    if let Some(keys) = read_keys(&path)? {
        return Ok(keys);
    }
    if let Some(sealed) = first_sealed_file(blob_folder) {
        return Err(KeyError::Lost { path, sealed });
    }
    Ok(BlobKeys::generate())
}

/// Appends a new key to the file in `data` and audits it; the running
/// server seals with it from its next start, and every earlier key still
/// opens what it sealed. Returns the new key's id.
pub async fn rotate(store: &dyn Store, data: &Path) -> Result<u32, KeyError> {
    // A lost key file is refused here too, and a first one made as at a start.
    load_or_create(data, &data.join(crate::blobs::BLOB_FOLDER))?;
    let path = key_path(data);
    let mut lines = read_lines(&path)?.unwrap_or_default();
    let current = BlobKeys::from_lines(&lines);
    let id = new_id(&current);
    lines.push((id, crate::auth::random_bytes::<32>()));
    write_keys(&path, &lines)?;
    let detail = format!(
        "blob key {:08x} followed by {id:08x}; earlier keys still open what they sealed",
        current.current_id()
    );
    store.audit(AuditEntry::new(None, COMMAND_LINE, "rotate_blob_key", &detail)).await?;
    Ok(id)
}

impl BlobKeys {
    fn from_lines(lines: &[KeyLine]) -> BlobKeys {
        let mut keys = BlobKeys { keys: Vec::new() };
        for (id, bytes) in lines {
            keys.add(*id, bytes);
        }
        keys
    }
}

fn read_keys(path: &Path) -> Result<Option<BlobKeys>, KeyError> {
    Ok(read_lines(path)?.filter(|lines| !lines.is_empty()).map(|lines| BlobKeys::from_lines(&lines)))
}

fn read_lines(path: &Path) -> Result<Option<Vec<KeyLine>>, KeyError> {
    let text = crate::files::read_text_if_any(path)
        .map_err(|source| KeyError::Io { path: path.to_owned(), source })?;
    let Some(text) = text else { return Ok(None) };
    let mut lines = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let malformed = || KeyError::Malformed { path: path.to_owned(), line: n + 1 };
        let (id, key) = line.trim().split_once(' ').ok_or_else(malformed)?;
        let id: [u8; 4] = hex::decode(id).ok().and_then(|b| b.try_into().ok()).ok_or_else(malformed)?;
        let key: [u8; 32] =
            hex::decode(key.trim()).ok().and_then(|b| b.try_into().ok()).ok_or_else(malformed)?;
        lines.push((u32::from_be_bytes(id), key));
    }
    Ok(Some(lines))
}

fn write_keys(path: &Path, lines: &[KeyLine]) -> Result<(), KeyError> {
    let text: String = lines.iter().map(|(id, key)| format!("{id:08x} {}\n", hex::encode(key))).collect();
    crate::files::write_durably(path, text.as_bytes())
        .map_err(|source| KeyError::Io { path: path.to_owned(), source })
}

/// The first file in the blob folder's shards that starts like a sealed one.
fn first_sealed_file(blob_folder: &Path) -> Option<PathBuf> {
    let shards = std::fs::read_dir(blob_folder).ok()?;
    for shard in shards.flatten().filter(|e| e.file_name().len() == 2) {
        let Ok(files) = std::fs::read_dir(shard.path()) else { continue };
        for file in files.flatten() {
            let mut start = [0u8; MAGIC.len()];
            let read = std::fs::File::open(file.path())
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut start));
            if read.is_ok() && is_sealed(&start) {
                return Some(file.path());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABEL: &[u8] = b"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

    #[tokio::test]
    async fn a_node_of_a_shared_bucket_without_the_key_the_database_names_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sqlite::SqliteStore::open(&dir.path().join("posfield.db")).unwrap();
        let (first, second) = (dir.path().join("first"), dir.path().join("second"));
        for folder in [&first, &second] {
            std::fs::create_dir_all(folder).unwrap();
        }
        // Before any node: nothing named, nothing refused.
        check_shared(&store, &second, None).await.unwrap();
        let keys = load_or_create(&first, &first.join("blobs")).unwrap();
        check_shared(&store, &first, Some(&keys)).await.unwrap();
        check_shared(&store, &first, Some(&keys)).await.unwrap();
        // A second node with an empty folder, or keys of its own: refused.
        let error = check_shared(&store, &second, None).await.unwrap_err();
        assert!(matches!(error, KeyError::NotShared { id, .. } if id == keys.current_id()), "{error}");
        assert!(error.to_string().contains("copy server-blob.keys"), "{error}");
        let own = load_or_create(&second, &second.join("blobs")).unwrap();
        assert!(matches!(check_shared(&store, &second, Some(&own)).await, Err(KeyError::NotShared { .. })));
        // With the first node's file copied, it starts.
        std::fs::copy(key_path(&first), key_path(&second)).unwrap();
        let copied = load_or_create(&second, &second.join("blobs")).unwrap();
        check_shared(&store, &second, Some(&copied)).await.unwrap();
        // A rotation on the first node is recorded; the second node's older
        // file is refused until the rotated one is copied.
        rotate(&store, &first).await.unwrap();
        let rotated = load_or_create(&first, &first.join("blobs")).unwrap();
        check_shared(&store, &first, Some(&rotated)).await.unwrap();
        assert!(matches!(
            check_shared(&store, &second, Some(&copied)).await,
            Err(KeyError::NotShared { .. })
        ));
        std::fs::copy(key_path(&first), key_path(&second)).unwrap();
        let copied = load_or_create(&second, &second.join("blobs")).unwrap();
        check_shared(&store, &second, Some(&copied)).await.unwrap();
    }

    #[test]
    fn a_sealed_file_opens_to_its_bytes_and_hides_them() {
        let keys = BlobKeys::generate();
        let plain = b"\xff\xd8 an ID card photo".repeat(50);
        let sealed = keys.seal(LABEL, &plain);
        assert_eq!(sealed.len(), plain.len() + OVERHEAD);
        assert!(is_sealed(&sealed));
        assert!(!sealed.windows(16).any(|w| w == &plain[..16]), "the plain bytes show through");
        assert_ne!(keys.seal(LABEL, &plain), sealed, "a nonce is new for every file");
        assert_eq!(keys.open(LABEL, sealed).unwrap(), plain);
        assert_eq!(keys.open(LABEL, keys.seal(LABEL, b"")).unwrap(), b"");
    }

    /// Every way a sealed file can be damaged, and the refusal it gets.
    #[test]
    fn a_damaged_sealed_file_is_refused_with_its_reason() {
        let keys = BlobKeys::generate();
        let sealed = keys.seal(LABEL, b"a signature's strokes");
        let flip = |at: usize| {
            let mut bytes = sealed.clone();
            bytes[at] ^= 1;
            bytes
        };
        let last = sealed.len() - 1;
        let cases: Vec<(&str, Vec<u8>, &[u8], OpenError)> = vec![
            ("magic", flip(0), LABEL, OpenError::NotSealed),
            ("version", flip(6), LABEL, OpenError::Version(0)),
            ("nonce", flip(12), LABEL, OpenError::Tampered),
            ("ciphertext", flip(HEADER_LEN + 2), LABEL, OpenError::Tampered),
            ("tag", flip(last), LABEL, OpenError::Tampered),
            (
                "cut to the header",
                sealed[..HEADER_LEN + 3].to_vec(),
                LABEL,
                OpenError::Truncated(HEADER_LEN + 3),
            ),
            ("cut by one byte", sealed[..last].to_vec(), LABEL, OpenError::Tampered),
            ("another blob's name", sealed.clone(), b"another", OpenError::Tampered),
        ];
        for (what, bytes, label, expected) in cases {
            assert_eq!(keys.open(label, bytes), Err(expected), "{what}");
        }
        // Another key id: the key file does not hold it, and the words say so.
        let mut other_id = sealed.clone();
        other_id[7..11].copy_from_slice(&0xdead_beef_u32.to_be_bytes());
        let error = keys.open(LABEL, other_id).unwrap_err();
        assert_eq!(error, OpenError::UnknownKey(0xdead_beef));
        assert!(
            error.to_string().contains("deadbeef") && error.to_string().contains("not in the blob key file")
        );
        // Another server's key with its id: refused, never opened wrongly.
        let stranger = BlobKeys::generate();
        let theirs = stranger.seal(LABEL, b"theirs");
        assert!(matches!(keys.open(LABEL, theirs), Err(OpenError::UnknownKey(_))));
    }

    #[tokio::test]
    async fn a_rotated_key_seals_new_files_and_the_old_key_still_opens_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sqlite::SqliteStore::open(&dir.path().join("posfield.db")).unwrap();
        let first = load_or_create(dir.path(), &dir.path().join("blobs")).unwrap();
        let old = first.seal(LABEL, b"before");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(key_path(dir.path())).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the key file is readable by others: {mode:o}");
        }
        let again = load_or_create(dir.path(), &dir.path().join("blobs")).unwrap();
        assert_eq!(again.current_id(), first.current_id(), "a later start reads the same key");
        assert_eq!(again.open(LABEL, old.clone()).unwrap(), b"before");

        let id = rotate(&store, dir.path()).await.unwrap();
        let rotated = load_or_create(dir.path(), &dir.path().join("blobs")).unwrap();
        assert_eq!(rotated.current_id(), id);
        assert_ne!(id, first.current_id());
        let new = rotated.seal(LABEL, b"after");
        assert_eq!(u32::from_be_bytes(new[7..11].try_into().unwrap()), id);
        assert_eq!(rotated.open(LABEL, old).unwrap(), b"before");
        assert_eq!(rotated.open(LABEL, new.clone()).unwrap(), b"after");
        assert_eq!(first.open(LABEL, new), Err(OpenError::UnknownKey(id)));
        let audit = store.audit_log(None, 10).await.unwrap();
        let row = audit.iter().find(|r| r.entry.action == "rotate_blob_key").expect("an audit row");
        assert_eq!(row.entry.actor, COMMAND_LINE);
        assert!(row.entry.detail.contains(&format!("{id:08x}")), "{}", row.entry.detail);
        assert!(format!("{rotated:?}").contains(&format!("{id:08x}")));
        assert!(!std::fs::read_to_string(key_path(dir.path())).unwrap().is_empty());
    }

    #[test]
    fn a_lost_key_file_is_refused_when_sealed_blobs_remain_and_a_damaged_one_named() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = dir.path().join("blobs");
        let keys = load_or_create(dir.path(), &blobs).unwrap();
        std::fs::create_dir_all(blobs.join("5e")).unwrap();
        std::fs::write(blobs.join("5e").join("5e88"), keys.seal(LABEL, b"x")).unwrap();
        std::fs::remove_file(key_path(dir.path())).unwrap();
        let error = load_or_create(dir.path(), &blobs).unwrap_err();
        assert!(matches!(error, KeyError::Lost { .. }), "{error}");
        assert!(error.to_string().contains("restore the key file"), "{error}");
        assert!(!key_path(dir.path()).exists(), "no new key replaces the lost one");

        std::fs::write(key_path(dir.path()), "0000abcd not-a-key\n").unwrap();
        let error = load_or_create(dir.path(), &blobs).unwrap_err();
        assert!(error.to_string().contains("line 1"), "{error}");
    }
}
