//! Identities: agents and their enrolment codes, devices and their
//! credentials, back-office users and their passwords.
//!
//! Device credentials and enrolment codes are long random secrets, so a
//! SHA-256 of them is what is stored and compared; passwords are chosen by
//! people and are hashed with argon2id.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::db::{Db, DbError, now};

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
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<rusqlite::Error> for AuthError {
    fn from(e: rusqlite::Error) -> Self {
        AuthError::Db(DbError::Sqlite(e))
    }
}

/// An authenticated device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The server's id of the device.
    pub id: String,
    /// The agent it belongs to.
    pub agent: String,
}

impl Device {
    /// The peer id the device syncs as.
    pub fn peer(&self) -> String {
        peer_of(&self.id)
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
pub fn issue_enrolment_code(conn: &Connection, agent: &str) -> Result<String, AuthError> {
    let agent = check_name(agent, "the agent name")?;
    let raw = random_bytes::<12>();
    let code: String = raw.iter().map(|b| CODE_ALPHABET[usize::from(b % 32)] as char).collect();
    let shown = format!("{}-{}-{}", &code[0..4], &code[4..8], &code[8..12]);
    let at = now();
    conn.execute(
        "INSERT INTO agents (name, created_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![agent, at],
    )?;
    conn.execute(
        "INSERT INTO enrolment_codes (code_hash, agent, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![sha256_hex(&normalize_code(&shown)), agent, at, at + CODE_LIFETIME_SECS],
    )?;
    Db::audit(conn, None, "admin", "issue_enrolment_code", &agent)?;
    Ok(shown)
}

/// Enrols a device with a one-time code; the code is consumed.
pub fn enrol(
    conn: &mut Connection,
    code: &str,
    client_device_id: &str,
    device_name: &str,
    public_key: &str,
) -> Result<Enrolled, AuthError> {
    let key_ok = public_key.len() == 64 && public_key.bytes().all(|b| b.is_ascii_hexdigit());
    if !key_ok {
        return Err(AuthError::Invalid("the device public key must be 32 bytes of hex".into()));
    }
    let client_device_id = check_name(client_device_id, "the device id")?;
    let device_name: String = device_name.trim().chars().take(80).collect();
    let tx = conn.transaction()?;
    let at = now();
    let agent: Option<String> = tx
        .query_row(
            "SELECT agent FROM enrolment_codes WHERE code_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
            params![sha256_hex(&normalize_code(code)), at],
            |r| r.get(0),
        )
        .optional()?;
    let Some(agent) = agent else {
        Db::audit(&tx, None, "anonymous", "enrol_refused", "bad code")?;
        tx.commit()?;
        return Err(AuthError::BadCode);
    };
    tx.execute(
        "UPDATE enrolment_codes SET used_at = ?2 WHERE code_hash = ?1",
        params![sha256_hex(&normalize_code(code)), at],
    )?;
    let device_id = uuid::Uuid::new_v4().to_string();
    let token = format!("pfd_{}", hex::encode(random_bytes::<32>()));
    let expires_at = at + CREDENTIAL_LIFETIME_SECS;
    tx.execute(
        "INSERT INTO devices (id, agent, token_hash, client_device_id, name, public_key, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![device_id, agent, sha256_hex(&token), client_device_id, device_name, public_key.to_ascii_lowercase(), at, expires_at],
    )?;
    Db::audit(&tx, None, &agent, "enrolled", &device_id)?;
    tx.commit()?;
    Ok(Enrolled { peer: peer_of(&device_id), agent, device_id, token, expires_at })
}

/// The device a bearer credential belongs to.
pub fn authenticate(conn: &Connection, token: &str) -> Result<Device, AuthError> {
    let row: Option<(String, String, i64, Option<i64>)> = conn
        .query_row(
            "SELECT id, agent, expires_at, revoked_at FROM devices WHERE token_hash = ?1",
            [sha256_hex(token)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    match row {
        None => Err(AuthError::Unauthenticated),
        Some((_, _, _, Some(_))) => Err(AuthError::Revoked),
        Some((_, _, expires_at, None)) if expires_at <= now() => Err(AuthError::Expired),
        Some((id, agent, _, None)) => Ok(Device { id, agent }),
    }
}

/// Revokes a device's credential; returns whether it existed.
pub fn revoke_device(conn: &Connection, device_id: &str) -> Result<bool, AuthError> {
    let n = conn.execute(
        "UPDATE devices SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![device_id, now()],
    )?;
    if n > 0 {
        Db::audit(conn, None, "admin", "revoke_device", device_id)?;
    }
    Ok(n > 0)
}

/// The public key a phone signs acceptances with, by the device id it stamps.
pub fn device_public_key(conn: &Connection, client_device_id: &str) -> Result<Option<String>, AuthError> {
    Ok(conn
        .query_row(
            "SELECT public_key FROM devices WHERE client_device_id = ?1 ORDER BY created_at DESC LIMIT 1",
            [client_device_id],
            |r| r.get(0),
        )
        .optional()?)
}

/// A back-office role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserRole {
    /// Reviews visits.
    Reviewer,
    /// Reviews, assigns and administers.
    Admin,
}

impl UserRole {
    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            UserRole::Reviewer => "reviewer",
            UserRole::Admin => "admin",
        }
    }
}

/// Adds (or replaces the password and role of) a back-office user.
pub fn add_user(conn: &Connection, name: &str, role: UserRole, password: &str) -> Result<(), AuthError> {
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
    conn.execute(
        "INSERT INTO users (name, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (name) DO UPDATE SET role = ?2, password_hash = ?3",
        params![name, role.code(), hash, now()],
    )?;
    Db::audit(conn, None, "admin", "add_user", &format!("{name} ({})", role.code()))?;
    Ok(())
}

/// Checks a back-office user's password; returns their role.
pub fn check_password(conn: &Connection, name: &str, password: &str) -> Result<UserRole, AuthError> {
    let row: Option<(String, String)> = conn
        .query_row("SELECT role, password_hash FROM users WHERE name = ?1", [name], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let Some((role, hash)) = row else { return Err(AuthError::Unauthenticated) };
    let parsed = PasswordHash::new(&hash).map_err(|_| AuthError::Unauthenticated)?;
    argon2::Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .map_err(|_| AuthError::Unauthenticated)?;
    Ok(if role == "admin" { UserRole::Admin } else { UserRole::Reviewer })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("s.db")).unwrap();
        (dir, db)
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

    #[test]
    fn a_code_enrols_once_and_the_credential_authenticates() {
        let (_dir, db) = db();
        let mut conn = db.lock();
        let code = issue_enrolment_code(&conn, "wang.wei").unwrap();
        // Typed in lowercase without dashes still works.
        let typed = code.replace('-', "").to_lowercase();
        let enrolled = enrol(&mut conn, &typed, "phone-1", "华为 Mate", KEY).unwrap();
        assert_eq!(enrolled.agent, "wang.wei");
        let device = authenticate(&conn, &enrolled.token).unwrap();
        assert_eq!(device.agent, "wang.wei");
        assert!(matches!(enrol(&mut conn, &code, "phone-2", "x", KEY), Err(AuthError::BadCode)));
        // The credential is not stored in the clear.
        let stored: String = conn.query_row("SELECT token_hash FROM devices", [], |r| r.get(0)).unwrap();
        assert_ne!(stored, enrolled.token);
    }

    #[test]
    fn forged_revoked_and_expired_credentials_are_refused() {
        let (_dir, db) = db();
        let mut conn = db.lock();
        let code = issue_enrolment_code(&conn, "li.na").unwrap();
        let enrolled = enrol(&mut conn, &code, "phone-1", "", KEY).unwrap();
        assert!(matches!(authenticate(&conn, "pfd_00"), Err(AuthError::Unauthenticated)));
        let mut forged = enrolled.token.clone();
        forged.pop();
        forged.push('x');
        assert!(matches!(authenticate(&conn, &forged), Err(AuthError::Unauthenticated)));
        conn.execute("UPDATE devices SET expires_at = 1", []).unwrap();
        assert!(matches!(authenticate(&conn, &enrolled.token), Err(AuthError::Expired)));
        assert!(revoke_device(&conn, &enrolled.device_id).unwrap());
        assert!(matches!(authenticate(&conn, &enrolled.token), Err(AuthError::Revoked)));
    }

    #[test]
    fn bad_names_keys_and_short_passwords_are_refused() {
        let (_dir, db) = db();
        let mut conn = db.lock();
        assert!(matches!(issue_enrolment_code(&conn, "a b"), Err(AuthError::Invalid(_))));
        assert!(matches!(issue_enrolment_code(&conn, ""), Err(AuthError::Invalid(_))));
        let code = issue_enrolment_code(&conn, "zhao").unwrap();
        assert!(matches!(enrol(&mut conn, &code, "p", "", "nothex"), Err(AuthError::Invalid(_))));
        assert!(matches!(add_user(&conn, "chen", UserRole::Reviewer, "short"), Err(AuthError::Invalid(_))));
    }

    #[test]
    fn passwords_are_checked_with_argon2() {
        let (_dir, db) = db();
        let conn = db.lock();
        add_user(&conn, "chen", UserRole::Admin, "correct horse battery").unwrap();
        assert_eq!(check_password(&conn, "chen", "correct horse battery").unwrap(), UserRole::Admin);
        assert!(check_password(&conn, "chen", "wrong horse battery").is_err());
        assert!(check_password(&conn, "nobody", "correct horse battery").is_err());
        let hash: String = conn.query_row("SELECT password_hash FROM users", [], |r| r.get(0)).unwrap();
        assert!(hash.starts_with("$argon2id$"));
    }
}
