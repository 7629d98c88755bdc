//! Identities: agents and their enrolment codes, devices and their
//! credentials, back-office users and their passwords.
//!
//! Device credentials and enrolment codes are long random secrets, so a
//! SHA-256 of them is what is stored and compared; passwords are chosen by
//! people and are hashed with argon2id. What is stored goes through the
//! [`Store`]; the secrets and their checks stay here.
//!
//! A device credential is renewed by a sync before it lapses
//! ([`renew`]): the new credential is held beside the old one, which stays
//! valid until a renewal is first used (or until its own expiry), so a
//! phone that dies before it stored the answer still syncs, and asks again;
//! a renewal never replaces another still waiting, since a request the
//! network delayed can arrive after the one whose answer the phone stored.
//! Time comes in as an argument (`now`, Unix seconds), from the server's
//! [`crate::clock::Clock`].
//!
//! A password check reads the user's hash from the store, which then has
//! its connection back, and runs argon2 on tokio's blocking pool, at most
//! [`password_turns`] at once, so guessing cannot take every core from
//! the syncs. A user name nobody has is checked against a dummy hash of
//! the same cost, by the same code, so the answer's time does not tell
//! which names exist. [`sign_in`] puts the [`crate::throttle`] limits
//! around the check.

use std::net::IpAddr;
use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};

use crate::clock::now;
pub use crate::store::UserRole;
use crate::store::{AuditEntry, NewDevice, Principal, Renewal, Store, StoreError, UserRecord};

/// How long an enrolment code stays valid.
pub const CODE_LIFETIME_SECS: i64 = 7 * 24 * 3600;
/// How long a device credential stays valid before the device must re-enrol.
pub const CREDENTIAL_LIFETIME_SECS: i64 = 365 * 24 * 3600;

/// Why an identity operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No credential, or one the server never issued.
    #[error("no valid credential")]
    Unauthenticated,
    /// The credential was revoked.
    #[error("this device's credential was revoked; enrol it again")]
    Revoked,
    /// The credential expired.
    #[error("this device's credential expired; enrol it again")]
    Expired,
    /// The enrolment code is unknown, used or expired.
    #[error("the enrolment code is unknown, already used or expired")]
    BadCode,
    /// A name or key is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// A device key rotation came for a device no rotation was asked for.
    #[error("no key rotation was asked for device {0}")]
    NoKeyRotationAsked(String),
    /// A device key rotation whose proof the device's current key did not make.
    #[error("the proof of the new key of device {0} is not its current key's signature")]
    KeyRotationRefused(String),
    /// Too many wrong guesses for this account or from this address.
    #[error("too many failed attempts; try again in {retry_after_secs} s")]
    Throttled {
        /// Seconds until the attempt may be made again.
        retry_after_secs: i64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An authenticated device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The server's id of the device.
    pub id: String,
    /// The agent it belongs to.
    pub agent: String,
    /// When the credential it authenticated with expires (Unix seconds).
    pub expires_at: i64,
    /// The versions it last sent before this request.
    pub seen: Option<crate::store::SeenVersion>,
    /// An administrator asked for the phone to be wiped: the manifest's
    /// answer tells it, after it sent its work.
    pub wipe: bool,
    /// An administrator asked for the phone's device key to be replaced:
    /// the manifest's answer tells it.
    pub rotate_key: bool,
}

impl Device {
    /// The peer id the device syncs as.
    pub fn peer(&self) -> String {
        peer_of(&self.id)
    }

    /// Who the device acts for.
    pub fn principal(&self) -> Principal {
        Principal::Agent { agent: self.agent.clone(), device: self.id.clone() }
    }
}

/// The sync peer id of a device id: `d:` and the UUID's 16 bytes in
/// unpadded base64url. Every sync message carries the sender's and the
/// recipient's peer ids, so they are kept short (24 characters rather than
/// the 43 of `device:` and the hyphenated UUID).
pub fn peer_of(device_id: &str) -> String {
    use base64::Engine as _;
    match uuid::Uuid::parse_str(device_id) {
        Ok(uuid) => format!("d:{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid.as_bytes())),
        Err(_) => format!("device:{device_id}"),
    }
}

/// What an enrolment returns to the device.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Enrolled {
    /// The agent's name.
    pub agent: String,
    /// The server's id for the device.
    pub device_id: String,
    /// The credential (shown once).
    pub token: String,
    /// The peer id to sync as.
    pub peer: String,
    /// When the credential expires (Unix seconds).
    pub expires_at: i64,
    /// The start of every automerge actor the device writes under (hex).
    pub actor_prefix: String,
}

/// `n` random bytes.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    bytes
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Whether two secrets are the same, in a time that depends on neither:
/// their SHA-256 digests are compared byte by byte without stopping early.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Crockford-style base32 without look-alikes (no I, L, O, U).
const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

fn normalize_code(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect()
}

fn check_name(name: &str, what: &str) -> Result<String, AuthError> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name.chars().count() <= 64
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(AuthError::Invalid(format!("{what} {name:?} must be 1-64 letters, digits, '-', '_' or '.'")))
    }
}

/// Creates the agent if needed and issues a one-time enrolment code
/// (`XXXX-XXXX-XXXX`, 60 bits).
pub async fn issue_enrolment_code(store: &dyn Store, agent: &str) -> Result<String, AuthError> {
    let agent = check_name(agent, "the agent name")?;
    let raw = random_bytes::<12>();
    let code: String = raw.iter().map(|b| CODE_ALPHABET[usize::from(b % 32)] as char).collect();
    let shown = format!("{}-{}-{}", &code[0..4], &code[4..8], &code[8..12]);
    let at = now();
    let code_hash = sha256_hex(&normalize_code(&shown));
    store.add_enrolment_code(&agent, &code_hash, at, at + CODE_LIFETIME_SECS).await?;
    Ok(shown)
}

/// Issues a one-time enrolment code like [`issue_enrolment_code`], audited
/// under `by` (an administrator, or [`crate::store::COMMAND_LINE`]); the
/// audit names the agent, never the code.
pub async fn issue_enrolment_code_by(store: &dyn Store, agent: &str, by: &str) -> Result<String, AuthError> {
    let code = issue_enrolment_code(store, agent).await?;
    let detail = format!("for {}", agent.trim());
    store.audit(crate::store::AuditEntry::new(None, by, "enrolment_code_issued", &detail)).await?;
    Ok(code)
}

/// Enrols a device with a one-time code at `at` (Unix seconds); the code is consumed.
pub async fn enrol(
    store: &dyn Store,
    code: &str,
    client_device_id: &str,
    device_name: &str,
    public_key: &str,
    at: i64,
) -> Result<Enrolled, AuthError> {
    enrol_replacing(store, code, client_device_id, device_name, public_key, None, at).await
}

/// Enrols a device like [`enrol`], in place of the agent's device whose
/// credential the phone held before (`previous_token`, when it sends one):
/// that device is revoked, and the new one writes under its automerge
/// actors, so what the phone edited before enrolling again still syncs.
pub async fn enrol_replacing(
    store: &dyn Store,
    code: &str,
    client_device_id: &str,
    device_name: &str,
    public_key: &str,
    previous_token: Option<&str>,
    at: i64,
) -> Result<Enrolled, AuthError> {
    // A key that is not a point of the curve could verify nothing; it is
    // refused here, as a rotation's is.
    if posfield_shared::device_key::parse_public_key(public_key).is_none() {
        return Err(AuthError::Invalid(
            "the device public key must be an Ed25519 public key, 32 bytes of hex".into(),
        ));
    }
    let client_device_id = check_name(client_device_id, "the device id")?;
    let device_id = uuid::Uuid::new_v4().to_string();
    let token = new_token();
    let expires_at = at + CREDENTIAL_LIFETIME_SECS;
    let device = NewDevice {
        code_hash: sha256_hex(&normalize_code(code)),
        device_id: device_id.clone(),
        token_hash: sha256_hex(&token),
        client_device_id,
        name: device_name.trim().chars().take(80).collect(),
        public_key: public_key.to_ascii_lowercase(),
        at,
        expires_at,
        // Drawn at random, so no device can choose another's. Should it be
        // one another device has, the store refuses the enrolment whole
        // and the code stays unused for the phone's next try.
        actor_prefix: random_bytes(),
        previous_token_hash: previous_token.map(sha256_hex),
    };
    let agent = store.enrol(device).await?.ok_or(AuthError::BadCode)?;
    // The prefix drawn, or the replaced device's.
    let actor_prefix =
        store.actor_owners(&device_id, &[]).await?.own_prefix.map(hex::encode).unwrap_or_default();
    Ok(Enrolled { peer: peer_of(&device_id), agent, device_id, token, expires_at, actor_prefix })
}

/// A new device credential: 256 random bits.
fn new_token() -> String {
    format!("pfd_{}", hex::encode(random_bytes::<32>()))
}

/// The device a bearer credential belongs to, at `now` (Unix seconds). The
/// first use of a renewed credential makes it the device's credential, and
/// the one it renewed stops working.
pub async fn authenticate(store: &dyn Store, token: &str, now: i64) -> Result<Device, AuthError> {
    let token_hash = sha256_hex(token);
    let device = match store.device_by_token(&token_hash).await? {
        None => return Err(AuthError::Unauthenticated),
        Some(device) if device.revoked => return Err(AuthError::Revoked),
        Some(device) if device.expires_at <= now => return Err(AuthError::Expired),
        Some(device) => device,
    };
    if device.renewal {
        store.take_renewal(&device.id, &token_hash).await?;
    }
    Ok(Device {
        id: device.id,
        agent: device.agent,
        expires_at: device.expires_at,
        seen: device.seen,
        wipe: device.wipe_requested,
        rotate_key: device.key_rotation_requested,
    })
}

/// A renewed credential.
#[derive(Debug, Clone)]
pub struct Renewed {
    /// The new credential (shown once).
    pub token: String,
    /// When it expires (Unix seconds).
    pub expires_at: i64,
}

/// Issues `device` a new credential at `now`, valid for
/// [`CREDENTIAL_LIFETIME_SECS`] and never shorter-lived than the one it
/// renews. The old credential keeps working until the new one is first
/// used; a revoked device gets none.
pub async fn renew(store: &dyn Store, device: &Device, now: i64) -> Result<Renewed, AuthError> {
    let token = new_token();
    let expires_at = now.saturating_add(CREDENTIAL_LIFETIME_SECS).max(device.expires_at);
    let renewal =
        Renewal { device_id: device.id.clone(), token_hash: sha256_hex(&token), at: now, expires_at };
    if !store.add_renewal(renewal).await? {
        return Err(AuthError::Revoked);
    }
    Ok(Renewed { token, expires_at })
}

/// Asks for a device to be wiped at its next contact (`actor` is who asked:
/// an administrator's name, or the command line). Returns whether there was
/// a live device not asked already.
pub async fn request_wipe(store: &dyn Store, device_id: &str, actor: &str) -> Result<bool, AuthError> {
    Ok(store.request_wipe(device_id, actor, now()).await?)
}

/// Asks for a device's key to be replaced at its next sync (`actor` is
/// who asked). Returns whether there was a live device not asked already.
pub async fn request_key_rotation(
    store: &dyn Store,
    device_id: &str,
    actor: &str,
) -> Result<bool, AuthError> {
    Ok(store.request_key_rotation(device_id, actor, now()).await?)
}

/// What a device key rotation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRotation {
    /// The new key is the device's key now; the old one joined its earlier keys.
    Made,
    /// The same rotation was made before (the phone never got the answer):
    /// nothing changed.
    AlreadyMade,
}

/// Replaces `device`'s key by the one `rotation` carries, asked for by an
/// administrator and vouched for by the device's current key over
/// [`posfield_shared::device_key::rotation_message`]. What the request
/// carries is checked for shape before anything is read. The same request
/// again, once made (its answer lost), is answered alike and changes
/// nothing; a proof by any other key is refused, audited, and changes
/// nothing.
pub async fn rotate_device_key(
    store: &dyn Store,
    device: &Device,
    rotation: &posfield_shared::protocol::DeviceKeyRotation,
    at: i64,
) -> Result<KeyRotation, AuthError> {
    use posfield_shared::device_key::{SIGNATURE_HEX_LEN, parse_public_key, rotation_verifies};
    let new = rotation.public_key.to_ascii_lowercase();
    if parse_public_key(&new).is_none() {
        let shown: String = rotation.public_key.chars().take(80).collect();
        return Err(AuthError::Invalid(format!(
            "the new device key must be an Ed25519 public key of 64 hex digits, not {shown:?}"
        )));
    }
    let proof = rotation.proof.to_ascii_lowercase();
    if proof.len() != SIGNATURE_HEX_LEN || !proof.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AuthError::Invalid(format!(
            "the proof must be an Ed25519 signature of 128 hex digits, not {} characters",
            rotation.proof.chars().count()
        )));
    }
    let keys = store.device_keys(&device.id).await?.ok_or(AuthError::Unauthenticated)?;
    let vouched = if keys.current == new {
        // The phone sends its pending key again when it never got the
        // answer: the key it replaced, the latest earlier one, vouched for it.
        let previous = keys.earlier.first();
        if previous.is_some_and(|previous| rotation_verifies(previous, &device.id, &new, &proof)) {
            return Ok(KeyRotation::AlreadyMade);
        }
        false
    } else {
        if !keys.rotation_requested {
            return Err(AuthError::NoKeyRotationAsked(device.id.clone()));
        }
        !keys.earlier.contains(&new) && rotation_verifies(&keys.current, &device.id, &new, &proof)
    };
    if !vouched {
        store.audit(AuditEntry::new(None, &device.agent, "device_key_rotation_refused", &device.id)).await?;
        return Err(AuthError::KeyRotationRefused(device.id.clone()));
    }
    // Another request of the same device may have rotated it meanwhile:
    // the store replaces the key only if it is still the one checked.
    if !store.replace_device_key(&device.id, &keys.current, &new, at).await? {
        return Err(AuthError::NoKeyRotationAsked(device.id.clone()));
    }
    Ok(KeyRotation::Made)
}

/// Revokes a device's credential; returns whether it existed.
pub async fn revoke_device(store: &dyn Store, device_id: &str) -> Result<bool, AuthError> {
    Ok(store.revoke_device(device_id, now()).await?)
}

/// What revoking a device's credential did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// Revoked: its next sync is refused; what it has not synced stays on it.
    Done,
    /// No device of that id with a live credential.
    NoLiveDevice,
    /// A wipe was asked and not yet done: revoking now would keep the
    /// phone from the sync that wipes it (the wipe revokes it once done).
    WaitingForWipe,
}

/// Revokes a device's credential, audited under `by` (an administrator, or
/// [`crate::store::COMMAND_LINE`]), unless it waits for its wipe.
pub async fn revoke_by(store: &dyn Store, device_id: &str, by: &str) -> Result<Revoked, AuthError> {
    let waiting = store.devices().await?.into_iter().any(|d| {
        d.id == device_id && d.wipe_requested.is_some() && d.wiped_at.is_none() && d.revoked_at.is_none()
    });
    if waiting {
        return Ok(Revoked::WaitingForWipe);
    }
    if !store.revoke_device(device_id, now()).await? {
        return Ok(Revoked::NoLiveDevice);
    }
    store.audit(crate::store::AuditEntry::new(None, by, "device_revoked", device_id)).await?;
    Ok(Revoked::Done)
}

/// Adds (or replaces the password and role of) a back-office user; an
/// existing user's sessions end. An administrator added is recorded as
/// made ([`FIRST_ADMIN_MADE`]): no setup link is offered from then on.
pub async fn add_user(
    store: &dyn Store,
    name: &str,
    role: UserRole,
    password: &str,
) -> Result<(), AuthError> {
    let name = check_name(name, "the user name")?;
    if password.chars().count() < 10 {
        return Err(AuthError::Invalid("the password must be at least 10 characters".into()));
    }
    let salt =
        SaltString::encode_b64(&random_bytes::<16>()).map_err(|e| AuthError::Invalid(e.to_string()))?;
    let hash = argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| AuthError::Invalid(e.to_string()))?
        .to_string();
    store.put_user(&name, role, &hash).await?;
    if role == UserRole::Admin {
        // The first administrator's setup link is offered no more.
        store.set_setting(FIRST_ADMIN_MADE, &name).await?;
    }
    Ok(())
}

/// The setting that records that an administrator was made (by
/// [`add_user`] or the first administrator's setup page), naming them:
/// once it is set, `serve` offers no setup link ([`crate::office::setup`]).
pub const FIRST_ADMIN_MADE: &str = "first_admin_made";

/// Removes a back-office user (their sessions end); returns whether there was one.
pub async fn remove_user(store: &dyn Store, name: &str) -> Result<bool, AuthError> {
    Ok(store.remove_user(name.trim()).await?)
}

/// Checks a back-office user's password; returns the user as checked
/// (their role, and the hash the password matched).
pub async fn check_password(store: &dyn Store, name: &str, password: &str) -> Result<UserRecord, AuthError> {
    check_password_with(store, name, password, argon2_verify).await
}

/// Password checks run at once: half the cores (at least one), so that
/// argon2 leaves the rest to the syncs however many guesses arrive.
pub fn password_turns() -> &'static tokio::sync::Semaphore {
    static TURNS: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        tokio::sync::Semaphore::new((cores / 2).max(1))
    });
    &TURNS
}

/// The hash a name nobody has is checked against: argon2id with the same
/// parameters as every user's, of a password nobody knows.
fn dummy_hash() -> &'static str {
    static DUMMY: LazyLock<String> = LazyLock::new(|| {
        let salt = SaltString::encode_b64(&random_bytes::<16>()).expect("16 bytes make a salt");
        argon2::Argon2::default()
            .hash_password(&random_bytes::<32>(), &salt)
            .expect("argon2 hashes 32 bytes with the default parameters")
            .to_string()
    });
    &DUMMY
}

/// Whether `password` matches the argon2 `hash`.
fn argon2_verify(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .is_ok_and(|parsed| argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// [`check_password`] with the verifier as an argument: the one code path
/// for known and unknown names, which a test can watch.
async fn check_password_with(
    store: &dyn Store,
    name: &str,
    password: &str,
    verify: impl FnOnce(&str, &str) -> bool + Send + 'static,
) -> Result<UserRecord, AuthError> {
    // The store's connection is free again once the hash is read.
    let user = store.user(name).await?;
    let hash = user.as_ref().map_or_else(|| dummy_hash().to_owned(), |user| user.password_hash.clone());
    let password = password.to_owned();
    let _turn = password_turns().acquire().await.map_err(|_| AuthError::Store(StoreError::Cancelled))?;
    // argon2id is slow on purpose: it runs off the async threads.
    let verified = tokio::task::spawn_blocking(move || verify(&hash, &password))
        .await
        .map_err(|_| AuthError::Store(StoreError::Cancelled))?;
    match user {
        Some(user) if verified => Ok(user),
        _ => Err(AuthError::Unauthenticated),
    }
}

/// A back-office sign-in (a page's form or the JSON API's Basic
/// credentials) from `client` at `now`: refused without a check while the
/// account or the address is throttled, and a wrong password counts
/// against both.
pub async fn sign_in(
    store: &dyn Store,
    throttles: &crate::throttle::Throttles,
    client: IpAddr,
    name: &str,
    password: &str,
    now: i64,
) -> Result<UserRecord, AuthError> {
    let account = name.to_owned();
    let throttled =
        |t: crate::throttle::Throttled| AuthError::Throttled { retry_after_secs: t.retry_after_secs };
    throttles.passwords_per_account.take(&account, now).map_err(throttled)?;
    if let Err(t) = throttles.passwords_per_address.take(&client, now) {
        throttles.passwords_per_account.forgive(&account);
        return Err(throttled(t));
    }
    let checked = check_password(store, name, password).await;
    // Only a wrong password counts (a store failure is nobody's guess).
    if !matches!(checked, Err(AuthError::Unauthenticated)) {
        throttles.passwords_per_account.forgive(&account);
        throttles.passwords_per_address.forgive(&client);
    }
    checked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        (dir, store)
    }

    const KEY: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";

    #[test]
    fn peer_ids_are_short_and_distinct_per_device() {
        let a = peer_of("0190c7b2-1f0e-7c4a-9a51-3b7f2d8e6a10");
        let b = peer_of("0190c7b2-1f0e-7c4a-9a51-3b7f2d8e6a11");
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        assert!(a.starts_with("d:") && !a.contains('='), "{a}");
        assert_eq!(peer_of("not-a-uuid"), "device:not-a-uuid");
    }

    /// 64 hex digits are not enough: `02 00…` decodes to no point of the
    /// curve, so no signature could ever verify with it.
    #[tokio::test]
    async fn an_enrolment_key_off_the_curve_or_not_hex_is_refused_and_the_code_kept() {
        let (_dir, store) = store();
        let code = issue_enrolment_code(&store, "wang.wei").await.unwrap();
        let off_curve = format!("02{}", "00".repeat(31));
        for bad in [off_curve.as_str(), &"zz".repeat(32), &KEY[..62]] {
            let refused = enrol(&store, &code, "phone-1", "华为 Mate", bad, now()).await.unwrap_err();
            assert!(refused.to_string().contains("Ed25519 public key"), "{bad}: {refused}");
        }
        enrol(&store, &code, "phone-1", "华为 Mate", KEY, now()).await.unwrap();
    }

    #[tokio::test]
    async fn a_code_enrols_once_and_the_credential_authenticates() {
        let (_dir, store) = store();
        let code = issue_enrolment_code(&store, "wang.wei").await.unwrap();
        // Typed in lowercase without dashes still works.
        let typed = code.replace('-', "").to_lowercase();
        let enrolled = enrol(&store, &typed, "phone-1", "华为 Mate", KEY, now()).await.unwrap();
        assert_eq!(enrolled.agent, "wang.wei");
        let device = authenticate(&store, &enrolled.token, now()).await.unwrap();
        assert_eq!(device.agent, "wang.wei");
        assert!(matches!(enrol(&store, &code, "phone-2", "x", KEY, now()).await, Err(AuthError::BadCode)));
        // The credential is not stored in the clear.
        assert!(store.device_by_token(&enrolled.token).await.unwrap().is_none());
        assert!(store.device_by_token(&sha256_hex(&enrolled.token)).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn forged_revoked_and_expired_credentials_are_refused() {
        let (_dir, store) = store();
        let code = issue_enrolment_code(&store, "li.na").await.unwrap();
        let enrolled = enrol(&store, &code, "phone-1", "", KEY, now()).await.unwrap();
        assert!(matches!(authenticate(&store, "pfd_00", now()).await, Err(AuthError::Unauthenticated)));
        let mut forged = enrolled.token.clone();
        forged.pop();
        forged.push('x');
        assert!(matches!(authenticate(&store, &forged, now()).await, Err(AuthError::Unauthenticated)));
        assert!(revoke_device(&store, &enrolled.device_id).await.unwrap());
        assert!(matches!(authenticate(&store, &enrolled.token, now()).await, Err(AuthError::Revoked)));
        // The command line's acts are audited as its own, never as a user's.
        let audit = store.audit_log(None, 10).await.unwrap();
        let by_command_line: Vec<&str> = audit
            .iter()
            .filter(|r| r.entry.actor == crate::store::COMMAND_LINE)
            .map(|r| r.entry.action.as_str())
            .collect();
        assert!(by_command_line.contains(&"revoke_device"), "{audit:?}");
        assert!(by_command_line.contains(&"issue_enrolment_code"), "{audit:?}");
        // A credential past its expiry.
        store.add_enrolment_code("li.na", &sha256_hex("OLD"), 1, i64::MAX).await.unwrap();
        let old = NewDevice {
            code_hash: sha256_hex("OLD"),
            device_id: "old-device".into(),
            token_hash: sha256_hex("pfd_old"),
            client_device_id: "phone-0".into(),
            name: String::new(),
            public_key: KEY.into(),
            at: 1,
            expires_at: 2,
            actor_prefix: random_bytes(),
            previous_token_hash: None,
        };
        assert_eq!(store.enrol(old).await.unwrap().as_deref(), Some("li.na"));
        assert!(matches!(authenticate(&store, "pfd_old", now()).await, Err(AuthError::Expired)));
    }

    #[tokio::test]
    async fn bad_names_keys_and_short_passwords_are_refused() {
        let (_dir, store) = store();
        assert!(matches!(issue_enrolment_code(&store, "a b").await, Err(AuthError::Invalid(_))));
        assert!(matches!(issue_enrolment_code(&store, "").await, Err(AuthError::Invalid(_))));
        let code = issue_enrolment_code(&store, "zhao").await.unwrap();
        assert!(matches!(enrol(&store, &code, "p", "", "nothex", now()).await, Err(AuthError::Invalid(_))));
        let short = add_user(&store, "chen", UserRole::Reviewer, "short").await;
        assert!(matches!(short, Err(AuthError::Invalid(_))));
    }

    const DAY: i64 = 24 * 3600;

    /// A store with one enrolled device, enrolled at `at`; its credential.
    async fn enrolled_at(at: i64) -> (tempfile::TempDir, SqliteStore, Enrolled) {
        let (dir, store) = store();
        let code = issue_enrolment_code(&store, "wang").await.unwrap();
        let enrolled = enrol(&store, &code, "phone-1", "", KEY, at).await.unwrap();
        (dir, store, enrolled)
    }

    #[tokio::test]
    async fn a_renewal_keeps_the_old_credential_until_the_new_one_is_first_used() {
        let enrolled_on = now();
        let (_dir, store, enrolled) = enrolled_at(enrolled_on).await;
        let later = enrolled_on + 340 * DAY;
        let device = authenticate(&store, &enrolled.token, later).await.unwrap();
        let renewed = renew(&store, &device, later).await.unwrap();
        assert_eq!(renewed.expires_at, later + CREDENTIAL_LIFETIME_SECS);
        // Both work until the new one is used...
        assert_eq!(authenticate(&store, &enrolled.token, later).await.unwrap().id, device.id);
        let first_use = authenticate(&store, &renewed.token, later).await.unwrap();
        assert_eq!((first_use.id.as_str(), first_use.expires_at), (device.id.as_str(), renewed.expires_at));
        // ...then only the new one, and past the old expiry.
        assert!(matches!(
            authenticate(&store, &enrolled.token, later).await,
            Err(AuthError::Unauthenticated)
        ));
        let after_old_expiry = enrolled.expires_at + 10 * DAY;
        assert!(authenticate(&store, &renewed.token, after_old_expiry).await.is_ok());
    }

    #[tokio::test]
    async fn a_renewal_whose_answer_was_lost_leaves_the_old_credential_working_and_ends_at_the_next_ones_use()
    {
        let enrolled_on = now();
        let (_dir, store, enrolled) = enrolled_at(enrolled_on).await;
        let later = enrolled_on + 350 * DAY;
        let device = authenticate(&store, &enrolled.token, later).await.unwrap();
        // The phone died before it stored this one.
        let lost = renew(&store, &device, later).await.unwrap();
        let device = authenticate(&store, &enrolled.token, later + 60).await.unwrap();
        let stored = renew(&store, &device, later + 60).await.unwrap();
        // A request the network delayed renews after the one the phone
        // stored: that one must still work.
        let late = renew(&store, &device, later + 90).await.unwrap();
        assert!(authenticate(&store, &stored.token, later + 120).await.is_ok());
        // Its first use retired the old credential and the other renewals.
        for retired in [&enrolled.token, &lost.token, &late.token] {
            let refused = authenticate(&store, retired, later + 120).await;
            assert!(matches!(refused, Err(AuthError::Unauthenticated)), "{refused:?}");
        }
    }

    #[tokio::test]
    async fn a_renewal_never_shortens_a_credential() {
        let enrolled_on = now();
        let (_dir, store, enrolled) = enrolled_at(enrolled_on).await;
        // A server clock set back a month renews to no earlier than the old expiry.
        let device = authenticate(&store, &enrolled.token, enrolled_on).await.unwrap();
        let renewed = renew(&store, &device, enrolled_on - 30 * DAY).await.unwrap();
        assert_eq!(renewed.expires_at, enrolled.expires_at);
        let renewed_again = renew(&store, &device, enrolled_on + DAY).await.unwrap();
        assert_eq!(renewed_again.expires_at, enrolled_on + DAY + CREDENTIAL_LIFETIME_SECS);
    }

    #[tokio::test]
    async fn a_revoked_device_cannot_renew_and_its_waiting_renewal_stops_working() {
        let enrolled_on = now();
        let (_dir, store, enrolled) = enrolled_at(enrolled_on).await;
        let device = authenticate(&store, &enrolled.token, enrolled_on).await.unwrap();
        let renewed = renew(&store, &device, enrolled_on).await.unwrap();
        assert!(revoke_device(&store, &device.id).await.unwrap());
        assert!(matches!(renew(&store, &device, enrolled_on).await, Err(AuthError::Revoked)));
        for token in [&enrolled.token, &renewed.token] {
            let refused = authenticate(&store, token, enrolled_on).await;
            assert!(matches!(refused, Err(AuthError::Revoked | AuthError::Unauthenticated)), "{refused:?}");
        }
    }

    #[tokio::test]
    async fn an_expired_credential_is_refused_by_the_clock_it_is_given() {
        let enrolled_on = now();
        let (_dir, store, enrolled) = enrolled_at(enrolled_on).await;
        assert!(authenticate(&store, &enrolled.token, enrolled.expires_at - 1).await.is_ok());
        assert!(matches!(
            authenticate(&store, &enrolled.token, enrolled.expires_at).await,
            Err(AuthError::Expired)
        ));
    }

    #[tokio::test]
    async fn passwords_are_checked_with_argon2() {
        let (_dir, store) = store();
        add_user(&store, "chen", UserRole::Admin, "correct horse battery").await.unwrap();
        assert_eq!(
            check_password(&store, "chen", "correct horse battery").await.unwrap().role,
            UserRole::Admin
        );
        assert!(check_password(&store, "chen", "wrong horse battery").await.is_err());
        assert!(check_password(&store, "nobody", "correct horse battery").await.is_err());
        let stored = store.user("chen").await.unwrap().unwrap();
        assert!(stored.password_hash.starts_with("$argon2id$"));
    }

    /// Runs the password check of `name` with a verifier that records the
    /// hash it was given and answers `matches`.
    async fn hashes_checked(store: &SqliteStore, name: &str, matches: bool) -> (Vec<String>, bool) {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        let outcome = check_password_with(store, name, "a password typed", move |hash, _| {
            record.lock().unwrap().push(hash.to_owned());
            matches
        })
        .await;
        let seen = seen.lock().unwrap().clone();
        (seen, outcome.is_ok())
    }

    #[tokio::test]
    async fn an_unknown_user_name_costs_the_same_argon2_check_as_a_known_one() {
        let (_dir, store) = store();
        add_user(&store, "chen", UserRole::Reviewer, "correct horse battery").await.unwrap();
        let known = store.user("chen").await.unwrap().unwrap().password_hash;
        assert_eq!(hashes_checked(&store, "chen", false).await, (vec![known.clone()], false));
        assert_eq!(hashes_checked(&store, "chen", true).await, (vec![known], true));
        // The unknown name goes through the same verifier, with the dummy
        // hash, and is refused even when the verifier says yes.
        assert_eq!(hashes_checked(&store, "nobody", false).await, (vec![dummy_hash().to_owned()], false));
        assert_eq!(hashes_checked(&store, "nobody", true).await, (vec![dummy_hash().to_owned()], false));
        // The dummy hash costs what a user's does: the same algorithm and parameters.
        let params = |hash: &str| {
            let parsed = PasswordHash::new(hash).unwrap();
            (parsed.algorithm.to_string(), parsed.version, parsed.params.to_string())
        };
        assert_eq!(params(dummy_hash()), params(&store.user("chen").await.unwrap().unwrap().password_hash));
    }

    #[tokio::test]
    async fn sign_ins_are_refused_without_a_check_once_an_account_has_had_its_wrong_passwords() {
        let (_dir, store) = store();
        add_user(&store, "chen", UserRole::Reviewer, "correct horse battery").await.unwrap();
        let config = crate::config::Config { password_failures_per_account: 3, ..Default::default() };
        let throttles = crate::throttle::Throttles::new(&config);
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let at = 1_000;
        for _ in 0..3 {
            let refused = sign_in(&store, &throttles, client, "chen", "wrong horse battery", at).await;
            assert!(matches!(refused, Err(AuthError::Unauthenticated)), "{refused:?}");
        }
        // The right password too, until the window ends.
        let throttled = sign_in(&store, &throttles, client, "chen", "correct horse battery", at + 1).await;
        assert!(matches!(throttled, Err(AuthError::Throttled { retry_after_secs: 899 })), "{throttled:?}");
        let later = at + config.password_window_secs;
        assert!(sign_in(&store, &throttles, client, "chen", "correct horse battery", later).await.is_ok());
    }

    /// A phone's key pair from a seed.
    fn key(seed: u8) -> (ed25519_dalek::SigningKey, String) {
        let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        let public = hex::encode(key.verifying_key().to_bytes());
        (key, public)
    }

    /// Only a rotation an administrator asked for, vouched for by the
    /// device's current key over its own id, replaces the key; every other
    /// request is refused and changes nothing, and the same request again
    /// after it was made is answered alike.
    #[tokio::test]
    async fn a_device_key_is_replaced_only_by_a_rotation_its_current_key_vouched_for() {
        use posfield_shared::device_key::sign_rotation;
        use posfield_shared::protocol::DeviceKeyRotation;
        let (_dir, store) = store();
        let (first, first_public) = key(1);
        let code = issue_enrolment_code(&store, "wang").await.unwrap();
        let enrolled = enrol(&store, &code, "phone-1", "华为 Mate", &first_public, now()).await.unwrap();
        let device = authenticate(&store, &enrolled.token, now()).await.unwrap();
        let (next, next_public) = key(2);
        let (other, _) = key(3);
        let rotation =
            |signer: &ed25519_dalek::SigningKey, device_id: &str, public: &str| DeviceKeyRotation {
                public_key: public.to_owned(),
                proof: sign_rotation(signer, device_id, public),
            };
        let good = rotation(&first, &device.id, &next_public);
        let not_asked = rotate_device_key(&store, &device, &good, now()).await;
        assert!(matches!(not_asked, Err(AuthError::NoKeyRotationAsked(_))), "{not_asked:?}");
        assert!(request_key_rotation(&store, &device.id, "zhou").await.unwrap());
        let device = authenticate(&store, &enrolled.token, now()).await.unwrap();
        assert!(device.rotate_key, "the manifest would not ask");

        let refused: Vec<(&str, DeviceKeyRotation)> = vec![
            ("a proof by another key", rotation(&other, &device.id, &next_public)),
            ("a proof naming another device", rotation(&first, "another-device", &next_public)),
            (
                "a proof for another new key",
                DeviceKeyRotation { proof: sign_rotation(&first, &device.id, &key(4).1), ..good.clone() },
            ),
            ("the current key again", rotation(&first, &device.id, &first_public)),
            ("a key too short", DeviceKeyRotation { public_key: "ab".repeat(31), ..good.clone() }),
            ("a key not hex", DeviceKeyRotation { public_key: "zz".repeat(32), ..good.clone() }),
            ("a proof too long", DeviceKeyRotation { proof: format!("{}00", good.proof), ..good.clone() }),
            ("a proof not hex", DeviceKeyRotation { proof: "zz".repeat(64), ..good.clone() }),
        ];
        for (case, request) in refused {
            let answer = rotate_device_key(&store, &device, &request, now()).await;
            assert!(
                matches!(answer, Err(AuthError::KeyRotationRefused(_) | AuthError::Invalid(_))),
                "{case}: {answer:?}"
            );
            let keys = store.device_keys(&device.id).await.unwrap().unwrap();
            assert_eq!(
                (keys.current.as_str(), keys.earlier.len(), keys.rotation_requested),
                (first_public.as_str(), 0, true),
                "{case}"
            );
        }

        assert_eq!(rotate_device_key(&store, &device, &good, now()).await.unwrap(), KeyRotation::Made);
        let keys = store.device_keys(&device.id).await.unwrap().unwrap();
        assert_eq!(
            (keys.current, keys.earlier, keys.rotation_requested),
            (next_public.clone(), vec![first_public.clone()], false)
        );
        // The same request again (its answer lost) is answered alike; a
        // further one, not asked, is refused.
        assert_eq!(rotate_device_key(&store, &device, &good, now()).await.unwrap(), KeyRotation::AlreadyMade);
        let further = rotation(&next, &device.id, &key(5).1);
        assert!(matches!(
            rotate_device_key(&store, &device, &further, now()).await,
            Err(AuthError::NoKeyRotationAsked(_))
        ));
    }
}
