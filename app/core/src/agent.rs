//! The `Agent` facade: one type whose methods are the field agent's actions.
//!
//! The Tauri app, the `posfield-agent` CLI, the tests and the benchmarks all
//! drive the agent through this type, so every rule lives in one place. Each
//! action loads the visit, applies the domain operation stamped with the
//! signed-in agent and the device time, and saves it durably before
//! returning.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use posfield_shared::visit::completion::describe_zh;
use posfield_shared::visit::ops::{BlobInfo, SignatureInput, TerminalDetails, WaiverInput};
use posfield_shared::visit::schema::{MarkPoint, MarkShape, StepState};
use posfield_shared::visit::{
    Ctx, DocError, MerchantInput, Missing, SimInput, Visit, VisitDoc, VisitError, missing,
};
use posfield_shared::vocab::{
    BackupItem, DocumentKind, IdentificationMethod, NetworkLink, RepairPlan, SimAction, SuspensionCause,
    WarrantyStatus,
};
use posfield_shared::{
    Actor, BlobHash, CalendarDate, FaultCode, IdError, Remedy, Timestamp, VisitId, VisitKind,
};
use serde::Serialize;

use crate::at_rest::DataKey;
use crate::blobs::{BlobError, BlobStore};
use crate::identify::{barcode, ndef};
use crate::keystore::Keystore;
use crate::photo::{self, PhotoError, PhotoLimits};
use crate::signature::{DeviceKey, SignatureError, Strokes, Tampered, verify_acceptance};
use crate::store::{DayPlan, JobCard, Store, StoreError, VisitFilter, VisitRow};

/// The stable code of a string from outside that is not an identifier.
fn id_error_code(error: &IdError) -> &'static str {
    match error {
        IdError::VisitId(_) => "bad_visit_id",
        IdError::BlobHash(_) => "bad_blob_hash",
    }
}

/// Where the time comes from: the system clock in the app, a fixed one in tests.
pub trait Clock: Send + Sync {
    /// Now, as milliseconds since the epoch.
    fn now(&self) -> Timestamp;
}

/// The device's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        Timestamp(millis)
    }
}

/// Why an action failed. Each variant has a stable [`AgentError::code`] so
/// the zh-CN UI can say it in Chinese.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Nobody is signed in on this device.
    #[error("no agent is signed in")]
    NotSignedIn,
    /// A stamped photo was asked for on a phone without a CJK font to draw it in.
    #[error("this phone has no font to stamp photos with")]
    NoStampFont,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blob could not be stored or read.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// The visit refused the action.
    #[error(transparent)]
    Visit(#[from] VisitError),
    /// The photo could not be used.
    #[error(transparent)]
    Photo(#[from] PhotoError),
    /// No serial could be read from the label photo.
    #[error(transparent)]
    Barcode(#[from] barcode::BarcodeError),
    /// No serial could be read from the NFC tag.
    #[error(transparent)]
    Nfc(#[from] ndef::NdefError),
    /// The signature was refused.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// A sync with the server did not finish.
    #[error(transparent)]
    Sync(#[from] crate::sync::SyncError),
    /// A string from outside (the UI, the command line) is not the identifier it should be.
    #[error(transparent)]
    Id(#[from] IdError),
    /// The keystore holding the data key failed.
    #[error(transparent)]
    Keystore(#[from] crate::keystore::KeystoreError),
    /// The data folder is encrypted and its key is gone: the phone was
    /// wiped, or the key was lost. Nothing is deleted.
    #[error(
        "the data in {data_dir} is encrypted and its key is gone from {keystore}: it cannot be read (the phone was wiped, or the key was lost); nothing was deleted"
    )]
    KeyGone {
        /// The data folder.
        data_dir: PathBuf,
        /// Where the key should have been.
        keystore: String,
    },
    /// A serial chosen from a label photo that the photo does not offer.
    #[error("the label photo offers no serial {serial:?}: take the photo again or type the serial")]
    NotOffered {
        /// What was chosen.
        serial: String,
    },
    /// A file was asked for through a visit that does not refer to it.
    #[error("visit {visit} refers to no file {sha256}")]
    NotInVisit {
        /// The visit asked through.
        visit: VisitId,
        /// The file asked for.
        sha256: BlobHash,
    },
}

impl From<posfield_shared::visit::DocError> for AgentError {
    fn from(error: posfield_shared::visit::DocError) -> Self {
        AgentError::Visit(VisitError::Document(error))
    }
}

impl AgentError {
    /// A stable machine code for the UI.
    pub fn code(&self) -> &'static str {
        match self {
            AgentError::NotSignedIn => "not_signed_in",
            AgentError::NoStampFont => "no_stamp_font",
            AgentError::Store(StoreError::StorageFull) | AgentError::Blob(BlobError::StorageFull { .. }) => {
                "storage_full"
            }
            AgentError::Store(StoreError::NotFound(_)) => "visit_not_found",
            AgentError::Store(_) | AgentError::Blob(_) => "storage",
            AgentError::Visit(VisitError::Incomplete(_)) => "incomplete",
            AgentError::Visit(VisitError::Invalid(_) | VisitError::OutOfRange { .. }) => "invalid_input",
            AgentError::Visit(VisitError::Locked { .. }) => "visit_locked",
            AgentError::Visit(VisitError::Document(DocError::NewerSchema { .. })) => "newer_schema",
            AgentError::Visit(VisitError::Forbidden { .. }) => "forbidden",
            AgentError::Visit(VisitError::WaitsForDecision { .. }) => "waits_for_decision",
            AgentError::Visit(_) => "visit_rule",
            AgentError::Photo(_) => "photo",
            AgentError::Barcode(_) => "barcode",
            AgentError::Nfc(_) => "nfc",
            AgentError::Signature(_) => "signature",
            AgentError::Sync(e) => e.code(),
            AgentError::Id(e) => id_error_code(e),
            AgentError::Keystore(_) => "keystore",
            AgentError::KeyGone { .. } => "key_gone",
            AgentError::NotInVisit { .. } => "file_not_in_visit",
            AgentError::NotOffered { .. } => "serial_not_offered",
        }
    }

    /// The oldest app version the server syncs with, when it refused this
    /// one ([`crate::sync::SyncError::AppTooOld`]).
    pub fn minimum_app_version(&self) -> Option<&str> {
        match self {
            AgentError::Sync(e) => e.minimum_app_version(),
            _ => None,
        }
    }
}

/// What the terminal identification found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identified {
    /// The normalized serial recorded.
    pub serial: String,
    /// How it was read.
    pub method: IdentificationMethod,
    /// Other codes found on the label, for the agent to pick instead.
    pub alternatives: Vec<String>,
}

/// What a label photo gave ([`Agent::identify_photo`]).
#[derive(Debug, Clone, PartialEq)]
pub enum PhotoIdentified {
    /// The label said which code is the serial: it is recorded.
    Recorded(Identified),
    /// It did not: nothing is recorded until the agent chooses.
    Choose(SerialChoice),
}

/// The candidates of a label photo that did not say which code is the serial.
#[derive(Debug, Clone, PartialEq)]
pub struct SerialChoice {
    /// The photo, stored: pass it back with the choice.
    pub photo: BlobHash,
    /// Why the agent must choose (two serials, an unknown maker's format, or
    /// not the terminal the visit was dispatched for).
    pub evidence: barcode::Evidence,
    /// The plausible serials, likeliest first, each with a crop of its code.
    pub candidates: Vec<barcode::Candidate>,
}

/// Where one visit stands with the server, for the visit screen.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VisitSyncState {
    /// The phone holds changes the server has not confirmed.
    pub unsynced: bool,
    /// The files the visit refers to that the server confirmed it holds.
    pub files_on_server: BTreeSet<BlobHash>,
    /// The files the visit refers to that the phone no longer holds: the
    /// personal photos that left it after approval (`crate::retention`).
    pub files_gone_from_phone: BTreeSet<BlobHash>,
}

impl VisitSyncState {
    /// Whether the server confirmed it holds the file with this hash.
    pub fn on_server(&self, sha256: &str) -> bool {
        self.files_on_server.contains(sha256)
    }
}

/// The files a visit refers to and shows: its current document photos, the
/// evidence of its identifications and faults, and the signature image.
fn referenced_files(visit: &Visit) -> BTreeSet<String> {
    let mut files: BTreeSet<String> = visit.current_documents().map(|d| d.sha256.clone()).collect();
    for record in [&visit.terminal, &visit.replacement].into_iter().flatten() {
        files.extend(record.evidence.iter().cloned());
    }
    for fault in visit.current_faults() {
        files.extend(fault.evidence.iter().cloned());
    }
    if let Some(acceptance) = &visit.acceptance {
        files.insert(acceptance.signature.sha256.clone());
    }
    if let Some(waiver) = &visit.backup_waiver {
        files.insert(waiver.signature.sha256.clone());
    }
    files.extend(visit.handovers.iter().filter_map(|h| h.photo.clone()));
    files
}

/// What signing out left on the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SignOutReport {
    /// Visits with changes the server has not confirmed; they stay on the phone.
    pub unsynced_visits: usize,
}

const SETTING_USER: &str = "user";
const SETTING_DEVICE_ID: &str = "device_id";
const SETTING_DEVICE_KEY: &str = "device_key";
/// The next device key (secret, hex) while the server has not confirmed
/// it: kept so that the same key is sent again when an answer was lost.
const SETTING_DEVICE_KEY_PENDING: &str = "device_key.pending";
/// The public halves (hex, comma separated, oldest first) of the device
/// keys rotations replaced: acceptances signed with them still verify.
const SETTING_DEVICE_KEYS_EARLIER: &str = "device_key.earlier";
/// The actor prefix the server gave at enrolment (hex), empty when it gave none.
const SETTING_ACTOR_PREFIX: &str = "actor_prefix";

/// The field agent's offline core.
pub struct Agent {
    keystore: Arc<dyn Keystore>,
    store: Store,
    blobs: BlobStore,
    key: DeviceKey,
    device_id: String,
    actor_id: Vec<u8>,
    user: Option<String>,
    clock: Arc<dyn Clock>,
    open_docs: HashMap<String, VisitDoc>,
    data_dir: PathBuf,
    /// Root certificates (DER) trusted instead of the platform's, when set
    /// through [`Agent::trust_only_roots`]; kept in memory only.
    pub(crate) trusted_roots: Vec<Vec<u8>>,
    /// Which network the phone is on, for "photos on Wi-Fi only"
    /// ([`Agent::use_connection_source`]); a desktop cannot tell.
    pub(crate) connection: Arc<dyn crate::network::ConnectionSource>,
    /// The font the evidence stamp is drawn in, when the platform has one.
    stamp_font: Option<crate::stamp::StampFont>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("device_id", &self.device_id)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Fresh random bytes straight from the operating system's random source
/// (`getrandom`): the device's signing key and actor ids are made of these,
/// so none of their bits is fixed (a UUIDv4 fixes six of every 128).
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).expect("the operating system's random source is available");
    out
}

/// A fresh automerge actor for this process: the server's 8-byte `prefix`
/// for this device (hex) and 8 random bytes, or 16 random bytes when the
/// phone has none (not enrolled, or enrolled by a server that gives none).
/// Fresh per process, as two processes on one phone must never share one.
fn actor_under(prefix: Option<&str>) -> Vec<u8> {
    let prefix = prefix.and_then(|hex| hex::decode(hex).ok()).filter(|bytes| bytes.len() == 8);
    match prefix {
        Some(prefix) => [prefix.as_slice(), &random_bytes::<8>()].concat(),
        None => random_bytes::<16>().to_vec(),
    }
}

/// The device key held in the setting `name`, if there is a well-formed one.
fn stored_key(store: &Store, name: &str) -> Result<Option<DeviceKey>, AgentError> {
    let bytes = store.setting(name)?.and_then(|h| hex::decode(h).ok());
    Ok(bytes.and_then(|b| <[u8; 32]>::try_from(b).ok()).map(DeviceKey::from_secret))
}

/// The store's file in a data folder.
const STORE_FILE: &str = "agent.db";
/// Present while a wipe is under way: the key may be destroyed already.
const WIPE_MARKER: &str = "wipe-under-way";

/// Deletes a data folder's store and blobs, then the wipe marker.
fn delete_data_files(data_dir: &Path) -> Result<(), AgentError> {
    let gone = |path: PathBuf, result: std::io::Result<()>| match result {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(AgentError::Store(StoreError::Io { path, source: e }))
        }
        _ => Ok(()),
    };
    let blobs = data_dir.join("blobs");
    gone(blobs.clone(), std::fs::remove_dir_all(&blobs))?;
    for suffix in ["", "-wal", "-shm"] {
        let file = data_dir.join(format!("{STORE_FILE}{suffix}"));
        gone(file.clone(), std::fs::remove_file(&file))?;
    }
    let marker = data_dir.join(WIPE_MARKER);
    gone(marker.clone(), std::fs::remove_file(&marker))
}

/// "1" once the server asked for this phone to be wiped (the next sync that
/// sends everything then wipes it).
pub(crate) const SETTING_WIPE_ASKED: &str = "wipe.asked";

/// The data key of the folder at `data_dir`: the one `keystore` holds, or a
/// new one when the folder holds nothing encrypted yet (a first start, or a
/// plain store from an older version, encrypted when opened). An encrypted
/// store whose key is gone is refused, and nothing is deleted.
fn data_key(data_dir: &Path, keystore: &dyn Keystore) -> Result<DataKey, AgentError> {
    if data_dir.join(WIPE_MARKER).exists() {
        // A wipe the process did not live to finish: finish it.
        keystore.destroy()?;
        delete_data_files(data_dir)?;
    }
    if let Some(key) = keystore.load()? {
        return Ok(key);
    }
    if store_is_encrypted(&data_dir.join(STORE_FILE)) {
        return Err(AgentError::KeyGone { data_dir: data_dir.to_owned(), keystore: keystore.describe() });
    }
    // Two processes starting on a new folder at once keep one key: the
    // keystore keeps the first it was given and returns it.
    Ok(keystore.save_new(&DataKey::generate())?)
}

/// Whether the store file exists and is not plain SQLite (its first 16
/// bytes, all that is read, are not SQLite's magic string).
fn store_is_encrypted(store: &Path) -> bool {
    use std::io::Read;
    let mut head = Vec::with_capacity(16);
    let read = std::fs::File::open(store).and_then(|f| f.take(16).read_to_end(&mut head));
    read.is_ok() && !head.is_empty() && !head.starts_with(b"SQLite format 3\0")
}

impl Agent {
    /// Opens the agent's data folder (store and blobs) with the system
    /// clock, its key in `keystore`.
    pub fn open(data_dir: &Path, keystore: Arc<dyn Keystore>) -> Result<Agent, AgentError> {
        Self::open_with_clock(data_dir, keystore, Arc::new(SystemClock))
    }

    /// Opens the agent's data folder with the given clock, its key in
    /// `keystore`. On first start it creates the data key, the device id and
    /// the device's Ed25519 key.
    pub fn open_with_clock(
        data_dir: &Path,
        keystore: Arc<dyn Keystore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Agent, AgentError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|source| StoreError::Io { path: data_dir.to_owned(), source })?;
        let data_key = data_key(data_dir, keystore.as_ref())?;
        let mut store = Store::open(&data_dir.join(STORE_FILE), &data_key.store_key())?;
        let blobs = BlobStore::open(&data_dir.join("blobs"), data_key.blob_seal())?;
        let device_id = match store.setting(SETTING_DEVICE_ID)? {
            Some(id) => id,
            None => {
                let id = format!("device-{}", uuid::Uuid::new_v4().simple());
                store.set_setting(SETTING_DEVICE_ID, &id)?;
                id
            }
        };
        let key = match stored_key(&store, SETTING_DEVICE_KEY)? {
            Some(key) => key,
            None => {
                let key = DeviceKey::from_secret(random_bytes::<32>());
                store.set_setting(SETTING_DEVICE_KEY, &hex::encode(key.secret_bytes()))?;
                key
            }
        };
        let user = store.setting(SETTING_USER)?.filter(|u| !u.is_empty());
        let actor_id = actor_under(store.setting(SETTING_ACTOR_PREFIX)?.as_deref());
        Ok(Agent {
            keystore,
            store,
            blobs,
            key,
            device_id,
            actor_id,
            user,
            clock,
            open_docs: HashMap::new(),
            data_dir: data_dir.to_owned(),
            trusted_roots: Vec::new(),
            connection: Arc::new(crate::network::Desktop),
            stamp_font: None,
        })
    }

    /// Writes from now on under the actor prefix an enrolment gave
    /// (`None` or not 8 bytes of hex: 16 random bytes), and keeps it for the
    /// next starts.
    pub(crate) fn use_actor_prefix(&mut self, prefix: Option<&str>) -> Result<(), AgentError> {
        self.store.set_setting(SETTING_ACTOR_PREFIX, prefix.unwrap_or_default())?;
        self.actor_id = actor_under(prefix);
        // Open documents take the new actor when they are next loaded.
        self.open_docs.clear();
        Ok(())
    }

    /// The first step of a wipe: a durable marker that a wipe is under way,
    /// then the data key destroyed, which makes the store and blobs
    /// unreadable at once. If the process dies after this, the next open
    /// finds the marker and finishes (`finish_interrupted_wipe`).
    pub(crate) fn begin_wipe(&mut self) -> Result<(), AgentError> {
        let marker = self.data_dir.join(WIPE_MARKER);
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| AgentError::Store(StoreError::Io { path, source })
        };
        std::fs::File::create(&marker).and_then(|f| f.sync_all()).map_err(io(&marker))?;
        std::fs::File::open(&self.data_dir).and_then(|d| d.sync_all()).map_err(io(&self.data_dir))?;
        self.keystore.destroy()?;
        self.open_docs.clear();
        Ok(())
    }

    /// The last step of a wipe: the store's and the blobs' files deleted,
    /// then the marker. This `Agent` must not be used afterwards; opening
    /// the folder again starts an empty one under a new key.
    pub(crate) fn finish_wipe(&mut self) -> Result<(), AgentError> {
        delete_data_files(&self.data_dir)
    }

    /// The keystore holding this data folder's key
    /// The keystore holding this data folder's key (a second `Agent` on the
    /// same folder, such as the background sync's, opens with it).
    pub fn keystore(&self) -> Arc<dyn Keystore> {
        self.keystore.clone()
    }

    /// The automerge actor this process writes under.
    pub fn actor_id(&self) -> &[u8] {
        &self.actor_id
    }

    /// Whether a day has passed since the personal photos were last looked
    /// at (or they never were).
    pub(crate) fn retention_due(&self) -> Result<bool, AgentError> {
        let last =
            self.store.setting(crate::retention::SETTING_LAST_LOOKED)?.and_then(|t| t.parse::<i64>().ok());
        Ok(last.is_none_or(|last| self.clock.now().0 - last >= 24 * 3600 * 1000))
    }

    /// Deletes the personal photos whose time on the phone is over
    /// (`crate::retention`); returns how many files went. Only photos the
    /// server confirmed it holds are deleted.
    pub fn apply_photo_retention(&mut self) -> Result<usize, AgentError> {
        let setting = self.store.setting(crate::retention::SETTING_PERSONAL_PHOTO_DAYS)?;
        let Some(days) = setting.and_then(|d| d.parse::<u32>().ok()) else { return Ok(0) };
        let now = self.clock.now();
        self.store.set_setting(crate::retention::SETTING_LAST_LOOKED, &now.0.to_string())?;
        let filter = VisitFilter {
            status: Some(posfield_shared::VisitStatus::Approved),
            limit: Some(u32::MAX),
            ..Default::default()
        };
        let mut removed = 0;
        for row in self.store.list_visits(&filter)? {
            let visit = self.store.load_visit(row.id.as_str())?.visit()?;
            for sha in crate::retention::photos_due(&visit, now, days) {
                if self.store.blob_confirmed(&sha)? && self.blobs.remove(&sha)? {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// The store, for the sync client's bookkeeping.
    pub(crate) fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// The clock's time in milliseconds.
    pub(crate) fn now_millis(&self) -> i64 {
        self.clock.now().millis()
    }

    /// Drops the cached copy of a visit changed behind the facade's back (by a sync).
    pub(crate) fn forget_cached(&mut self, visit_id: &str) {
        self.open_docs.remove(visit_id);
    }

    /// The data folder.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// This device's id.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// The device key's public half (hex), sent at enrolment.
    pub fn device_public_key(&self) -> String {
        self.key.public_hex()
    }

    /// The public halves (hex) of the device keys rotations replaced,
    /// oldest first.
    pub fn earlier_device_public_keys(&self) -> Result<Vec<String>, AgentError> {
        let earlier = self.store.setting(SETTING_DEVICE_KEYS_EARLIER)?.unwrap_or_default();
        Ok(earlier.split(',').filter(|k| !k.is_empty()).map(str::to_owned).collect())
    }

    /// Takes the device key from the store again: another `Agent` on this
    /// folder (the background sync's) may have rotated it.
    fn reload_device_key(&mut self) -> Result<(), AgentError> {
        if let Some(key) = stored_key(&self.store, SETTING_DEVICE_KEY)? {
            self.key = key;
        }
        Ok(())
    }

    /// The next device key, drawn now from the operating system's
    /// randomness, or the one drawn for a rotation whose answer never came.
    /// It is stored apart: the current key stays the one in use.
    pub(crate) fn pending_device_key(&mut self) -> Result<DeviceKey, AgentError> {
        if let Some(key) = stored_key(&self.store, SETTING_DEVICE_KEY_PENDING)? {
            return Ok(key);
        }
        let key = DeviceKey::from_secret(random_bytes::<32>());
        self.store.set_setting(SETTING_DEVICE_KEY_PENDING, &hex::encode(key.secret_bytes()))?;
        Ok(key)
    }

    /// Whether a rotation's next key waits for the server's answer.
    pub(crate) fn has_pending_device_key(&self) -> Result<bool, AgentError> {
        Ok(stored_key(&self.store, SETTING_DEVICE_KEY_PENDING)?.is_some())
    }

    /// Forgets the next key the server refused.
    pub(crate) fn discard_pending_device_key(&mut self) -> Result<(), AgentError> {
        Ok(self.store.set_setting(SETTING_DEVICE_KEY_PENDING, "")?)
    }

    /// Makes the pending key the device key, once the server said it holds
    /// it; the replaced key's public half joins the earlier ones, all in
    /// one transaction.
    pub(crate) fn adopt_pending_device_key(&mut self) -> Result<(), AgentError> {
        self.reload_device_key()?;
        let Some(next) = stored_key(&self.store, SETTING_DEVICE_KEY_PENDING)? else { return Ok(()) };
        let mut earlier = self.earlier_device_public_keys()?;
        earlier.push(self.key.public_hex());
        self.store.set_settings(&[
            (SETTING_DEVICE_KEY, &hex::encode(next.secret_bytes())),
            (SETTING_DEVICE_KEYS_EARLIER, &earlier.join(",")),
            (SETTING_DEVICE_KEY_PENDING, ""),
        ])?;
        self.key = next;
        Ok(())
    }

    /// Signs a rotation to `next` with the current device key, naming the
    /// server's id of this device.
    pub(crate) fn sign_key_rotation(
        &mut self,
        server_device_id: &str,
        next: &DeviceKey,
    ) -> Result<String, AgentError> {
        self.reload_device_key()?;
        Ok(self.key.sign_rotation(server_device_id, &next.public_hex()))
    }

    /// The signed-in agent, if any.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Signs an agent in on this device.
    pub fn sign_in(&mut self, user: &str) -> Result<(), AgentError> {
        let user = user.trim();
        if user.is_empty() {
            return Err(AgentError::NotSignedIn);
        }
        self.store.set_setting(SETTING_USER, user)?;
        self.user = Some(user.to_owned());
        Ok(())
    }

    /// Signs the agent out. Nothing is deleted: visits not yet on the server
    /// stay on the phone and sync at the next sign-in.
    pub fn sign_out(&mut self) -> Result<SignOutReport, AgentError> {
        self.store.set_setting(SETTING_USER, "")?;
        self.user = None;
        self.open_docs.clear();
        let unsynced = self.store.list_visits(&VisitFilter {
            unsynced_only: true,
            limit: Some(u32::MAX),
            ..Default::default()
        })?;
        Ok(SignOutReport { unsynced_visits: unsynced.len() })
    }

    /// The store, for the sync client. Private to this crate: the app, the
    /// CLI and the tests reach the data only through the facade's methods.
    ///
    /// ```compile_fail
    /// # fn escape(agent: &posfield_core::Agent) {
    /// let _ = agent.store();
    /// # }
    /// ```
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The blob store, for the sync client; private to this crate like [`Agent::store`].
    ///
    /// ```compile_fail
    /// # fn escape(agent: &posfield_core::Agent) {
    /// let _ = agent.blobs();
    /// # }
    /// ```
    pub(crate) fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    fn ctx(&self) -> Result<Ctx, AgentError> {
        let user = self.user.clone().ok_or(AgentError::NotSignedIn)?;
        let op_id = uuid::Uuid::now_v7().to_string();
        Ok(Ctx::new(Actor::agent(user, self.device_id.clone()), self.clock.now(), op_id))
    }

    /// Creates a visit assigned to the signed-in agent.
    pub fn create_visit(
        &mut self,
        kind: VisitKind,
        merchant: &MerchantInput,
    ) -> Result<VisitRow, AgentError> {
        let ctx = self.ctx()?;
        let id = uuid::Uuid::now_v7().hyphenated().to_string();
        let mut doc = VisitDoc::create_visit(&ctx, &self.actor_id, &id, kind, merchant, &ctx.actor.user)?;
        let row = self.store.save_visit(&mut doc)?;
        self.open_docs.insert(id, doc);
        Ok(row)
    }

    /// Applies one domain operation to a visit and saves it durably.
    fn edit<T>(
        &mut self,
        visit_id: &VisitId,
        op: impl FnOnce(&mut VisitDoc, &Ctx) -> Result<T, VisitError>,
    ) -> Result<T, AgentError> {
        let ctx = self.ctx()?;
        self.edit_as(ctx, visit_id, op)
    }

    /// Like `edit`, with a context made beforehand.
    fn edit_as<T>(
        &mut self,
        ctx: Ctx,
        visit_id: &VisitId,
        op: impl FnOnce(&mut VisitDoc, &Ctx) -> Result<T, VisitError>,
    ) -> Result<T, AgentError> {
        let key = visit_id.as_str();
        self.current_doc(visit_id)?;
        let doc = self.open_docs.get_mut(key).ok_or_else(|| StoreError::NotFound(key.to_owned()))?;
        let result = op(doc, &ctx);
        if result.is_err() {
            // A refused operation wrote nothing; drop the cached copy to be safe.
            self.open_docs.remove(key);
            return Ok(result?);
        }
        if let Err(error) = self.store.save_visit(doc) {
            // Not saved: forget the in-memory edit so memory never runs ahead of disk.
            self.open_docs.remove(key);
            return Err(error.into());
        }
        Ok(result?)
    }

    /// The visit as stored.
    pub fn visit(&mut self, visit_id: &VisitId) -> Result<Visit, AgentError> {
        if self.open_docs.contains_key(visit_id.as_str()) {
            return Ok(self.current_doc(visit_id)?.visit()?);
        }
        Ok(self.store.load_visit(visit_id.as_str())?.visit()?)
    }

    /// The cached document of a visit, reloaded when the store holds changes
    /// the cache has not seen (another process on the phone, such as the
    /// background sync, saved this visit since).
    fn current_doc(&mut self, visit_id: &VisitId) -> Result<&mut VisitDoc, AgentError> {
        let key = visit_id.as_str();
        let stored = self.store.stored_heads(key)?.ok_or_else(|| StoreError::NotFound(key.to_owned()))?;
        let stale = match self.open_docs.get_mut(key) {
            Some(doc) => !stored.is_empty() && posfield_shared::protocol::join_heads(&doc.heads()) != stored,
            None => true,
        };
        if stale {
            let mut doc = self.store.load_visit(key)?;
            doc.set_actor(&self.actor_id);
            self.open_docs.insert(key.to_owned(), doc);
        }
        self.open_docs.get_mut(key).ok_or_else(|| StoreError::NotFound(key.to_owned()).into())
    }

    /// The visit list, newest first.
    pub fn list_visits(&self, filter: &VisitFilter) -> Result<Vec<VisitRow>, AgentError> {
        Ok(self.store.list_visits(filter)?)
    }

    /// The jobs of `day` (Beijing time), in the order the agent put them;
    /// on today's list (by the device's clock) also the open jobs planned
    /// for an earlier day and those not planned at all.
    pub fn day_plan(&self, day: CalendarDate) -> Result<DayPlan, AgentError> {
        Ok(self.store.day_plan(day, self.clock.now().beijing_date())?)
    }

    /// The visits whose merchant name, merchant or terminal number,
    /// registered phone, address or serial contains `typed` (case and
    /// spaces ignored; at most the first 64 characters
    /// read), newest change first, at most `limit` (and 200).
    pub fn search_visits(&self, typed: &str, limit: u32) -> Result<Vec<JobCard>, AgentError> {
        Ok(self.store.search_cards(typed, limit)?)
    }

    /// Puts `day`'s jobs in the agent's order: `ids` first, in that order.
    /// The order stays on this phone; the desk's plan is unchanged.
    pub fn set_day_order(&mut self, day: CalendarDate, ids: &[VisitId]) -> Result<(), AgentError> {
        Ok(self.store.set_day_order(day, ids)?)
    }

    /// What the syncs brought from the back office, newest first, at most
    /// `limit`: new jobs, returned visits, decided applications, jobs
    /// planned again or cancelled.
    pub fn news(&self, limit: u32) -> Result<Vec<crate::news::News>, AgentError> {
        Ok(self.store.news(limit)?)
    }

    /// How many pieces of news the agent has not seen: the badge.
    pub fn unseen_news(&self) -> Result<u64, AgentError> {
        Ok(self.store.unseen_news()?)
    }

    /// The agent has seen the news up to `through` (its id).
    pub fn mark_news_seen(&mut self, through: i64) -> Result<(), AgentError> {
        Ok(self.store.mark_news_seen(through)?)
    }

    /// How many visits the phone holds.
    pub fn visit_count(&self) -> Result<u64, AgentError> {
        Ok(u64::try_from(self.store.visit_count()?).unwrap_or(0))
    }

    /// Where a visit (as just read with [`Agent::visit`]) stands with the
    /// server: whether the phone holds changes the server has not confirmed,
    /// and which of the files it refers to the server has confirmed it holds.
    pub fn visit_sync_state(&self, visit: &Visit) -> Result<VisitSyncState, AgentError> {
        let unsynced = self.store.is_unsynced(&visit.id)?;
        let mut files_on_server = BTreeSet::new();
        let mut files_gone_from_phone = BTreeSet::new();
        for sha256 in referenced_files(visit) {
            let confirmed = self.store.blob_confirmed(&sha256)?;
            if confirmed && !self.blobs.contains(&sha256) {
                files_gone_from_phone.insert(BlobHash::parse(&sha256)?);
            }
            if confirmed {
                files_on_server.insert(BlobHash::parse(&sha256)?);
            }
        }
        Ok(VisitSyncState { unsynced, files_on_server, files_gone_from_phone })
    }

    /// The bytes of a photo a visit shows (a document photo, the label or
    /// NFC evidence of its identification, the signature image), checked
    /// against their hash. A file the visit does not refer to is refused, so
    /// knowing a hash is not enough to read another visit's photo.
    pub fn photo_bytes(&mut self, visit_id: &VisitId, sha256: &BlobHash) -> Result<Vec<u8>, AgentError> {
        let visit = self.visit(visit_id)?;
        if !referenced_files(&visit).contains(sha256.as_str()) {
            return Err(AgentError::NotInVisit { visit: visit_id.clone(), sha256: sha256.clone() });
        }
        Ok(self.blobs.get(sha256.as_str())?)
    }

    /// The visit as one saved automerge document, compacted, for an export
    /// or a support case (the same bytes a sync sends a server that lacks it).
    pub fn visit_document(&self, visit_id: &VisitId) -> Result<Vec<u8>, AgentError> {
        Ok(self.store.visit_saved_whole(visit_id.as_str())?)
    }

    /// The visit's heads as stored (sorted hex, comma separated): the state
    /// of the visit the sync manifest compares with the server's.
    pub fn visit_heads(&self, visit_id: &VisitId) -> Result<String, AgentError> {
        let key = visit_id.as_str();
        Ok(self.store.stored_heads(key)?.ok_or_else(|| StoreError::NotFound(key.to_owned()))?)
    }

    /// Writes a consistent copy of the visit store to `target` (a new file),
    /// safe while other writes go on; the live files are never touched.
    pub fn back_up_store(&self, target: &Path) -> Result<(), AgentError> {
        Ok(self.store.backup_to(target)?)
    }

    /// Checks the phone's storage: SQLite's integrity check, then that every
    /// line of the visit list agrees with its document. Returns the visits
    /// whose line disagrees (always none unless something outside the
    /// facade wrote to the files).
    pub fn check_storage(&self) -> Result<Vec<String>, AgentError> {
        self.store.integrity_check()?;
        Ok(self.store.index_mismatches()?)
    }

    /// What is still missing before the visit can be completed, in zh-CN words and as data.
    pub fn missing(&mut self, visit_id: &VisitId) -> Result<Vec<(Missing, String)>, AgentError> {
        let visit = self.visit(visit_id)?;
        Ok(missing(&visit)
            .into_iter()
            .map(|m| {
                let words = describe_zh(&m);
                (m, words)
            })
            .collect())
    }

    /// Records a typed serial.
    pub fn identify_typed(
        &mut self,
        visit_id: &VisitId,
        serial: &str,
        replacement: bool,
    ) -> Result<Identified, AgentError> {
        self.identify_text(visit_id, serial, IdentificationMethod::Manual, replacement)
    }

    /// Records the serial in what the phone's live barcode scanner read off
    /// the label, by the same rule as a label photo
    /// ([`posfield_shared::serial_text::serial_from_text`]: a QR code's URL,
    /// a labelled value...); a code that holds none is refused with what it said.
    pub fn identify_scanned(
        &mut self,
        visit_id: &VisitId,
        scanned_text: &str,
        replacement: bool,
    ) -> Result<Identified, AgentError> {
        let Some(serial) = posfield_shared::serial_text::serial_from_text(scanned_text) else {
            let symbol = barcode::Symbol { format: "SCAN".into(), text: scanned_text.into() };
            return Err(barcode::BarcodeError::NoSerial { symbols: vec![symbol] }.into());
        };
        self.identify_text(visit_id, &serial, IdentificationMethod::Scan, replacement)
    }

    fn identify_text(
        &mut self,
        visit_id: &VisitId,
        serial: &str,
        method: IdentificationMethod,
        replacement: bool,
    ) -> Result<Identified, AgentError> {
        let visit =
            self.edit(visit_id, |doc, ctx| doc.identify_terminal(ctx, serial, method, None, replacement))?;
        Ok(Identified { serial: identified_serial(&visit, replacement), method, alternatives: Vec::new() })
    }

    /// Records the serial read from an NFC tag (raw NDEF message and tag UID).
    /// The NDEF bytes are kept as evidence.
    pub fn identify_nfc(
        &mut self,
        visit_id: &VisitId,
        ndef_bytes: &[u8],
        uid: &[u8],
        replacement: bool,
    ) -> Result<Identified, AgentError> {
        let found = ndef::serial_from_tag(ndef_bytes, uid)?;
        let evidence = self.blobs.put(ndef_bytes)?;
        let visit = self.edit(visit_id, |doc, ctx| {
            doc.identify_terminal(ctx, &found.serial, IdentificationMethod::Nfc, Some(evidence), replacement)
        })?;
        Ok(Identified {
            serial: identified_serial(&visit, replacement),
            method: IdentificationMethod::Nfc,
            alternatives: Vec::new(),
        })
    }

    /// Reads the serial from a photo of the label. When the label says which
    /// code is the serial ([`barcode::choose`]: the terminal the visit was
    /// dispatched for, a code naming its serial, or the one serial in a
    /// known maker's format) it is recorded with the photo as evidence; when
    /// it does not, nothing is recorded and the candidates come back with a
    /// crop of each one's code, for the agent to choose with
    /// [`Agent::identify_photo_choice`]. The photo is stored either way.
    pub fn identify_photo(
        &mut self,
        visit_id: &VisitId,
        image: &[u8],
        replacement: bool,
    ) -> Result<PhotoIdentified, AgentError> {
        let answer = self.read_label(visit_id, image, replacement)?;
        let photo = self.blobs.put(image)?;
        let Some(serial) = answer.serial.clone() else {
            return Ok(PhotoIdentified::Choose(SerialChoice {
                photo: BlobHash::parse(&photo)?,
                evidence: answer.evidence,
                candidates: answer.candidates,
            }));
        };
        let visit = self.edit(visit_id, |doc, ctx| {
            doc.identify_terminal(ctx, &serial, IdentificationMethod::Photo, Some(photo), replacement)
        })?;
        let alternatives = answer.candidates.into_iter().skip(1).map(|c| c.serial);
        Ok(PhotoIdentified::Recorded(Identified {
            serial: identified_serial(&visit, replacement),
            method: IdentificationMethod::Photo,
            alternatives: alternatives.chain(answer.others.into_iter().map(|s| s.text)).collect(),
        }))
    }

    /// Records the serial the agent chose among a label photo's candidates
    /// ([`PhotoIdentified::Choose`]). The stored photo is read again, so only
    /// a serial it offers is taken, with the photo as evidence. When the
    /// visit expected another terminal, a note says the agent confirmed the
    /// one on the label, for the reviewer.
    pub fn identify_photo_choice(
        &mut self,
        visit_id: &VisitId,
        photo: &BlobHash,
        serial: &str,
        replacement: bool,
    ) -> Result<Identified, AgentError> {
        let image = self.blobs.get(photo.as_str())?;
        let answer = self.read_label(visit_id, &image, replacement)?;
        let chosen = posfield_shared::validate::serial(serial).ok();
        let Some(chosen) = chosen.filter(|s| answer.candidates.iter().any(|c| &c.serial == s)) else {
            return Err(AgentError::NotOffered { serial: serial.to_owned() });
        };
        // Whatever the photo's answer, a serial other than the dispatched
        // terminal is noted for the reviewer.
        let expected = if replacement { Vec::new() } else { self.visit(visit_id)?.expected_serials() };
        let note = (!expected.is_empty() && !expected.contains(&chosen)).then(|| {
            format!(
                "标签机身号 {chosen} 与派单机身号 {} 不符，业务员确认按标签记录 / the label's serial {chosen} is not the dispatched {}: the agent confirmed the label",
                expected.join("、"),
                expected.join(", ")
            )
        });
        let photo = photo.as_str().to_owned();
        let visit = self.edit(visit_id, |doc, ctx| {
            let visit =
                doc.identify_terminal(ctx, &chosen, IdentificationMethod::Photo, Some(photo), replacement)?;
            match &note {
                Some(note) => doc.add_note(ctx, note),
                None => Ok(visit),
            }
        })?;
        Ok(Identified {
            serial: identified_serial(&visit, replacement),
            method: IdentificationMethod::Photo,
            alternatives: Vec::new(),
        })
    }

    /// Decodes a label photo against the terminal the visit expects (none
    /// for the replacement, which is new to the merchant).
    fn read_label(
        &mut self,
        visit_id: &VisitId,
        image: &[u8],
        replacement: bool,
    ) -> Result<barcode::SerialAnswer, AgentError> {
        let expected = if replacement { Vec::new() } else { self.visit(visit_id)?.expected_serials() };
        Ok(barcode::scan_serial(image, &barcode::DecodeOptions::default(), &expected)?)
    }

    /// Sets a checklist step.
    pub fn set_step(
        &mut self,
        visit_id: &VisitId,
        step: &str,
        state: StepState,
        reason: Option<&str>,
        note: Option<&str>,
    ) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.set_step(ctx, step, state, reason, note))
    }

    /// Records a fault; returns its id.
    pub fn add_fault(
        &mut self,
        visit_id: &VisitId,
        code: FaultCode,
        symptom: Option<&str>,
    ) -> Result<String, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.add_fault(ctx, code, symptom).map(|_| ctx.op_id.clone()))
    }

    /// Records what was tried against a fault.
    pub fn add_attempt(
        &mut self,
        visit_id: &VisitId,
        fault_id: &str,
        remedy: Option<Remedy>,
        description: Option<&str>,
        fixed: bool,
    ) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.add_attempt(ctx, fault_id, remedy, description, fixed))
    }

    /// Resolves a fault.
    pub fn resolve_fault(
        &mut self,
        visit_id: &VisitId,
        fault_id: &str,
        fixed: bool,
        note: Option<&str>,
    ) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.resolve_fault(ctx, fault_id, fixed, note))
    }

    /// Normalizes a document photo, stores it and attaches it to the visit.
    pub fn add_photo(
        &mut self,
        visit_id: &VisitId,
        image: &[u8],
        kind: DocumentKind,
    ) -> Result<BlobInfo, AgentError> {
        self.add_photo_edited(visit_id, image, kind, &photo::PhotoEdit::default())
    }

    /// [`Agent::add_photo`] with the agent's edit from the preview (turned,
    /// cropped; [`photo::normalize_photo_edited`]).
    pub fn add_photo_edited(
        &mut self,
        visit_id: &VisitId,
        image: &[u8],
        kind: DocumentKind,
        edit: &photo::PhotoEdit,
    ) -> Result<BlobInfo, AgentError> {
        self.add_photo_stamped(visit_id, image, kind, edit, false)
    }

    /// The font the evidence stamp is drawn in; without one, a stamped
    /// photo is refused ([`AgentError::NoStampFont`]).
    pub fn set_stamp_font(&mut self, font: Option<crate::stamp::StampFont>) {
        self.stamp_font = font;
    }

    /// Whether this phone can stamp photos (it has a CJK font).
    pub fn can_stamp(&self) -> bool {
        self.stamp_font.is_some()
    }

    /// [`Agent::add_photo_edited`], with the evidence stamp drawn into the
    /// photo when `stamped`: the capture time in Beijing time, the merchant,
    /// the identified terminal's serial and where the phone was at the
    /// arrival check-in, as the visit holds them.
    pub fn add_photo_stamped(
        &mut self,
        visit_id: &VisitId,
        image: &[u8],
        kind: DocumentKind,
        edit: &photo::PhotoEdit,
        stamped: bool,
    ) -> Result<BlobInfo, AgentError> {
        let stamp = if stamped {
            let font = self.stamp_font.clone().ok_or(AgentError::NoStampFont)?;
            let visit = self.visit(visit_id)?;
            let mut lines = vec![visit.merchant.name.clone()];
            if let Some(terminal) = &visit.terminal {
                lines.push(format!("SN {}", terminal.serial));
            }
            let place = visit.trip.as_ref().and_then(|t| t.arrived.as_ref()).and_then(|a| a.location);
            if let Some(place) = place {
                let (lat, lon) = place.degrees();
                lines.push(format!("{lat:.6}, {lon:.6}"));
            }
            Some(photo::PhotoStamp { font, fallback_millis: self.clock.now().0, lines })
        } else {
            None
        };
        let normalized =
            photo::normalize_photo_stamped(image, &PhotoLimits::default(), edit, stamp.as_ref())?;
        let sha256 = self.blobs.put(&normalized.jpeg)?;
        let info = BlobInfo {
            sha256,
            mime: normalized.mime.to_owned(),
            bytes: normalized.jpeg.len() as u64,
            width: normalized.width,
            height: normalized.height,
        };
        let now = self.clock.now();
        let taken_at = normalized.taken_at_millis.map(Timestamp).unwrap_or(now);
        self.edit(visit_id, |doc, ctx| doc.attach_document(ctx, &info, kind, taken_at))?;
        Ok(info)
    }

    /// Removes a document photo from the visit (its file is kept).
    pub fn remove_photo(&mut self, visit_id: &VisitId, sha256: &BlobHash) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.remove_document(ctx, sha256.as_str()))
    }

    /// Draws a mark over a photo of the visit (an arrow, a circle or a
    /// short text; points in thousandths of the photo), kept beside the
    /// photo, which stays as taken.
    pub fn annotate(
        &mut self,
        visit_id: &VisitId,
        photo: &BlobHash,
        shape: MarkShape,
        from: MarkPoint,
        to: MarkPoint,
        text: Option<&str>,
    ) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.annotate(ctx, photo.as_str(), shape, from, to, text))
    }

    /// Rubs out a mark (kept in the visit, marked removed).
    pub fn rub_out(&mut self, visit_id: &VisitId, mark_id: &str) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.rub_out(ctx, mark_id))
    }

    /// Records the SIM data card.
    pub fn set_sim(&mut self, visit_id: &VisitId, sim: &SimInput) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.set_sim(ctx, sim))
    }

    /// Records what was done about the SIM card.
    pub fn set_sim_action(
        &mut self,
        visit_id: &VisitId,
        action: SimAction,
        new_iccid: Option<&str>,
        new_expiry: Option<CalendarDate>,
    ) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.set_sim_action(ctx, action, new_iccid, new_expiry))
    }

    /// Confirms the data backup.
    pub fn confirm_backup(
        &mut self,
        visit_id: &VisitId,
        items: &[BackupItem],
        note: Option<&str>,
    ) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.confirm_backup(ctx, items, note))
    }

    /// The merchant declines the backup and signs that they did: the
    /// strokes are validated and stored with the rendered image, like the
    /// acceptance's.
    pub fn waive_backup(
        &mut self,
        visit_id: &VisitId,
        signer_name: &str,
        reason: Option<&str>,
        strokes: &Strokes,
    ) -> Result<Visit, AgentError> {
        let (captured, image) = self.store_signature(strokes)?;
        let waiver = WaiverInput {
            signer_name: signer_name.to_owned(),
            reason: reason.map(str::to_owned),
            image,
            strokes_sha256: captured.strokes_sha256.clone(),
        };
        self.edit(visit_id, |doc, ctx| doc.waive_backup(ctx, &waiver))
    }

    /// Records the model, manufacturer and production date off the label
    /// of the visit's terminal, or of the new one (`replacement`).
    pub fn set_terminal_details(
        &mut self,
        visit_id: &VisitId,
        details: &TerminalDetails,
        replacement: bool,
    ) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.set_terminal_details(ctx, details, replacement))
    }

    /// Records the parameter set-up.
    pub fn record_parameters(
        &mut self,
        visit_id: &VisitId,
        terminal_number: &str,
        parameters_downloaded: bool,
        keys_downloaded: bool,
    ) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| {
            doc.record_parameters(ctx, terminal_number, parameters_downloaded, keys_downloaded)
        })
    }

    /// Records a network test.
    pub fn record_network_test(
        &mut self,
        visit_id: &VisitId,
        link: NetworkLink,
        passed: bool,
        note: Option<&str>,
    ) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.record_network_test(ctx, link, passed, note))
    }

    /// Records what was restored onto the new terminal.
    pub fn record_restore(
        &mut self,
        visit_id: &VisitId,
        items: &[BackupItem],
        note: Option<&str>,
    ) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.record_restore(ctx, items, note))
    }

    /// Records a terminal handed over in the visit: its condition, the seal
    /// or bag number and the visit's photo of it (a hash of one of its photos).
    pub fn record_handover(
        &mut self,
        visit_id: &VisitId,
        serial: &str,
        condition: &str,
        seal: Option<&str>,
        photo: Option<&str>,
    ) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.record_handover(ctx, serial, condition, seal, photo))
    }

    /// Records the acquirer's unbinding reference (deregistration).
    pub fn set_unbind_reference(&mut self, visit_id: &VisitId, reference: &str) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.set_unbind_reference(ctx, reference))
    }

    /// Records the balance settled to the merchant, in fen (deregistration).
    pub fn set_settled_balance(&mut self, visit_id: &VisitId, balance_fen: u64) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.set_settled_balance(ctx, balance_fen))
    }

    /// 已接单: the agent takes the job.
    pub fn accept_job(&mut self, visit_id: &VisitId) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.accept_job(ctx))
    }

    /// 出发: the agent sets off for the merchant.
    pub fn depart(&mut self, visit_id: &VisitId) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.depart(ctx))
    }

    /// 到达: the arrival check-in, with where the phone said it was or why
    /// it could not say (`refused`, `unavailable`, `timeout`): the arrival
    /// is recorded either way.
    pub fn arrive(
        &mut self,
        visit_id: &VisitId,
        location: Result<posfield_shared::visit::GeoPoint, &str>,
    ) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.arrive(ctx, location))
    }

    /// Sets the follow-up day: the visit is on the list of that day.
    pub fn set_follow_up(
        &mut self,
        visit_id: &VisitId,
        on: CalendarDate,
        note: Option<&str>,
    ) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.set_follow_up(ctx, on, note))
    }

    /// Records the warranty decision.
    pub fn set_warranty(
        &mut self,
        visit_id: &VisitId,
        warranty: WarrantyStatus,
    ) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.set_warranty(ctx, warranty))
    }

    /// Records the repair plan.
    pub fn set_repair_plan(&mut self, visit_id: &VisitId, plan: RepairPlan) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.set_repair_plan(ctx, plan))
    }

    /// Records the agreed repair fee in fen.
    pub fn set_repair_fee(&mut self, visit_id: &VisitId, fee_fen: u64) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.set_repair_fee(ctx, fee_fen))
    }

    /// Records the suspension cause.
    pub fn set_suspension_cause(
        &mut self,
        visit_id: &VisitId,
        cause: SuspensionCause,
    ) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.set_suspension_cause(ctx, cause))
    }

    /// Submits the reactivation application.
    pub fn submit_application(&mut self, visit_id: &VisitId) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.submit_application(ctx))
    }

    /// Corrects the merchant after dispatch (the name as on the licence, a
    /// number read wrong, a registered phone that changed), validated as at
    /// creation; the visit's history shows what changed.
    pub fn correct_merchant(
        &mut self,
        visit_id: &VisitId,
        merchant: &MerchantInput,
    ) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.correct_merchant(ctx, merchant))
    }

    /// Adds a free note.
    pub fn add_note(&mut self, visit_id: &VisitId, text: &str) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.add_note(ctx, text))
    }

    /// The merchant signs: the strokes are validated, stored with the
    /// rendered image, and the acceptance is signed with the device key.
    pub fn sign(
        &mut self,
        visit_id: &VisitId,
        signer_name: &str,
        strokes: &Strokes,
    ) -> Result<Visit, AgentError> {
        let (captured, image) = self.store_signature(strokes)?;
        // The content hash is fixed by the summary at this instant; the device
        // signs it together with the strokes and the image.
        let ctx = self.ctx()?;
        let visit = self.visit(visit_id)?;
        let summary = posfield_shared::visit::AcceptanceSummary::of(&visit, ctx.at);
        let content_hash = posfield_shared::visit::AcceptanceSummary::hash_of(&summary.canonical_json());
        self.reload_device_key()?;
        let device_signature =
            self.key.sign_acceptance(&content_hash, &captured.strokes_sha256, &captured.png_sha256);
        let input = SignatureInput {
            signer_name: signer_name.to_owned(),
            image,
            strokes_sha256: captured.strokes_sha256.clone(),
            device_signature: Some(device_signature),
        };
        self.edit_as(ctx, visit_id, |doc, ctx| doc.sign_acceptance(ctx, &input))
    }

    /// Validates a merchant's strokes and stores them with their rendered
    /// image: what the acceptance and a backup waiver are signed with.
    fn store_signature(
        &mut self,
        strokes: &Strokes,
    ) -> Result<(crate::signature::CapturedSignature, BlobInfo), AgentError> {
        let captured = strokes.capture()?;
        self.blobs.put(&captured.strokes_blob)?;
        self.blobs.put(&captured.png)?;
        let image = BlobInfo {
            sha256: captured.png_sha256.clone(),
            mime: "image/png".into(),
            bytes: captured.png.len() as u64,
            width: captured.width,
            height: captured.height,
        };
        Ok((captured, image))
    }

    /// Verifies the visit's signature against the stored strokes and image
    /// and this device's key, current or replaced by a rotation (the one
    /// that signed may be either); empty when everything matches.
    pub fn verify_signature(&mut self, visit_id: &VisitId) -> Result<Vec<Tampered>, AgentError> {
        let visit = self.visit(visit_id)?;
        let Some(acceptance) = &visit.acceptance else { return Ok(vec![Tampered::DeviceSignature]) };
        let strokes = self.blobs.get(&acceptance.strokes_sha256).unwrap_or_default();
        let png = self.blobs.get(&acceptance.signature.sha256).unwrap_or_default();
        self.reload_device_key()?;
        let mut keys = vec![self.key.public_hex()];
        keys.extend(self.earlier_device_public_keys()?);
        Ok(verify_acceptance(&visit, &keys, &strokes, &png))
    }

    /// Frees space: removes temporary files of interrupted writes. It never
    /// removes a visit, a photo or a signature; those leave the phone only
    /// after the server confirms them, through sync.
    pub fn clean_up_storage(&mut self) -> Result<usize, AgentError> {
        self.open_docs.clear();
        Ok(self.blobs.remove_interrupted_writes()?)
    }

    /// Completes the visit, or says exactly what is missing.
    pub fn complete(&mut self, visit_id: &VisitId) -> Result<Visit, AgentError> {
        self.edit(visit_id, |doc, ctx| doc.complete(ctx))
    }
}

fn identified_serial(visit: &Visit, replacement: bool) -> String {
    let record = if replacement { &visit.replacement } else { &visit.terminal };
    record.as_ref().map(|r| r.serial.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests;
