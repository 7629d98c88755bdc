//! Sign-in sessions of the back office.
//!
//! A session is a random 256-bit token in an `HttpOnly`, `SameSite=Strict`
//! cookie scoped to `/office`, and `Secure` when the browser reached the
//! server over HTTPS ([`OverHttps`]: the server serves TLS, or a trusted
//! proxy says so), so the browser never sends it over plain HTTP; over
//! plain HTTP (local use, the demo) it has no `Secure`, which a browser
//! would refuse there. The store keeps each session (so a restart
//! signs no one out) with the token only as its SHA-256: a copy of the
//! database opens no session. A session is over after an idle time and an
//! absolute lifetime (`Config::office_session_idle_secs`,
//! `office_session_lifetime_secs`); the store refuses and removes it then,
//! and ends a user's sessions when the user's role or password changes or
//! the user is removed. Each session has its own CSRF token that every POST
//! form carries; a POST whose `Origin` names another site is refused before
//! it is read.
//!
//! [`Officer`] is the only way a handler gets the signed-in user, and
//! [`Admin`] the only way an admin-only handler runs.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use sha2::{Digest, Sha256};

use super::PageError;
use crate::State;
use crate::auth::UserRole;
use crate::clock::now;
use crate::config::Config;
use crate::desk::DeskUser;
use crate::store::{NewSession, Principal, SessionLimits, Store, StoreError};
use crate::throttle::OverHttps;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "posfield_office";

/// At most this many sessions per user; the least recently used end first.
const SESSIONS_PER_USER: usize = 32;

/// A session's last use is written only when it is at least this old
/// (seconds), so reading pages does not write to the disk on every request;
/// the idle time is kept to within this much.
const TOUCH_AFTER_SECS: i64 = 60;

/// The session limits a configuration sets.
pub fn limits(config: &Config) -> SessionLimits {
    SessionLimits {
        idle_secs: i64::try_from(config.office_session_idle_secs).unwrap_or(i64::MAX),
        lifetime_secs: i64::try_from(config.office_session_lifetime_secs).unwrap_or(i64::MAX),
        per_user: SESSIONS_PER_USER,
    }
}

/// A session token as the cookie carries it: 64 lowercase hex digits. Not
/// `Clone`, and its `Debug` shows nothing of it.
pub struct SessionToken(String);

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(..)")
    }
}

impl SessionToken {
    /// A new random token (256 bits).
    pub fn generate() -> SessionToken {
        SessionToken(hex::encode(crate::auth::random_bytes::<32>()))
    }

    /// The token a cookie value carries, if it has a token's shape; anything
    /// else is not looked up.
    pub fn from_cookie(value: &str) -> Option<SessionToken> {
        let shaped = value.len() == 64 && value.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        shaped.then(|| SessionToken(value.to_owned()))
    }

    /// What the store keeps and looks sessions up by: the token's SHA-256 (hex).
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    /// The `Set-Cookie` value that carries the token for `lifetime_secs`
    /// to a browser that reached the server as `transport` says.
    pub fn cookie(&self, lifetime_secs: u64, transport: OverHttps) -> String {
        format!(
            "{SESSION_COOKIE}={}; Path=/office; HttpOnly; SameSite=Strict; Max-Age={lifetime_secs}{}",
            self.0,
            transport.cookie_attributes()
        )
    }
}

/// Opens a session for a user whose password was checked against
/// `password_hash`; returns its token, or `None` when the user is gone or
/// their password changed since the check.
pub async fn open(
    store: &dyn Store,
    limits: SessionLimits,
    user: &str,
    password_hash: &str,
) -> Result<Option<SessionToken>, StoreError> {
    let token = SessionToken::generate();
    let session = NewSession {
        token_hash: token.hash(),
        user: user.to_owned(),
        password_hash: password_hash.to_owned(),
        csrf: hex::encode(crate::auth::random_bytes::<16>()),
        at: now(),
    };
    Ok(store.create_session(&session, limits).await?.then_some(token))
}

/// The value of a cookie in the request's headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// The `Set-Cookie` value that ends the session cookie.
pub fn expired_session_cookie(transport: OverHttps) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/office; HttpOnly; SameSite=Strict; Max-Age=0{}",
        transport.cookie_attributes()
    )
}

/// A signed-in back-office user.
#[derive(Debug, Clone)]
pub struct Officer {
    /// User name.
    pub name: String,
    /// Role.
    pub role: UserRole,
    /// The token POST forms must carry.
    pub csrf: String,
    token_hash: String,
}

impl Officer {
    /// Whether the user is an administrator.
    pub fn is_admin(&self) -> bool {
        self.role == UserRole::Admin
    }

    /// Who the user acts as, for the store.
    pub fn principal(&self) -> Principal {
        self.desk_user().principal()
    }

    /// The user, for the desk's actions.
    pub fn desk_user(&self) -> DeskUser {
        DeskUser { name: self.name.clone(), role: self.role }
    }

    /// Ends this session in the store (signing out).
    pub async fn sign_out(&self, store: &dyn Store) -> Result<(), StoreError> {
        store.end_session(&self.token_hash).await?;
        Ok(())
    }

    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), PageError> {
        let (a, b) = (self.csrf.as_bytes(), submitted.as_bytes());
        // Compared in constant time for equal lengths.
        let same = a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0;
        if same { Ok(()) } else { Err(PageError::BadForm) }
    }
}

/// Whether a request's `Origin` (when sent) is this server itself.
pub fn same_origin(parts: &Parts) -> bool {
    let Some(origin) = parts.headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = parts.headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    origin.split_once("://").is_some_and(|(_, rest)| rest == host)
}

impl FromRequestParts<Arc<State>> for Officer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Self, Self::Rejection> {
        // The route's guard found the session already.
        if let Some(officer) = parts.extensions.get::<Officer>() {
            return Ok(officer.clone());
        }
        if parts.method == Method::POST && !same_origin(parts) {
            return Err(PageError::BadForm);
        }
        let token = cookie(&parts.headers, SESSION_COOKIE)
            .and_then(|value| SessionToken::from_cookie(&value))
            .ok_or(PageError::SignIn)?;
        let token_hash = token.hash();
        let at = now();
        let session =
            state.store.session(&token_hash, at, limits(&state.config)).await?.ok_or(PageError::SignIn)?;
        if at - session.last_used_at >= TOUCH_AFTER_SECS {
            state.store.touch_session(&token_hash, at).await?;
        }
        Ok(Officer { name: session.user, role: session.role, csrf: session.csrf, token_hash })
    }
}

/// A signed-in administrator: reviewers get 403.
#[derive(Debug, Clone)]
pub struct Admin(pub Officer);

impl FromRequestParts<Arc<State>> for Admin {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Self, Self::Rejection> {
        let officer = Officer::from_request_parts(parts, state).await?;
        if officer.is_admin() { Ok(Admin(officer)) } else { Err(PageError::Forbidden) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; posfield_office_x=2; posfield_office=abc".parse().unwrap());
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "b"), None);
    }

    #[test]
    fn tokens_differ_hide_in_debug_and_are_stored_as_their_hash() {
        let (one, two) = (SessionToken::generate(), SessionToken::generate());
        assert_ne!(one.hash(), two.hash());
        assert_eq!(format!("{one:?}"), "SessionToken(..)");
        let value = one.cookie(60, OverHttps(false));
        let in_cookie = value.split(';').next().unwrap().strip_prefix("posfield_office=").unwrap();
        assert_eq!(SessionToken::from_cookie(in_cookie).unwrap().hash(), one.hash());
        assert_ne!(one.hash(), in_cookie, "the stored form is not the token");
    }

    #[test]
    fn only_a_token_shaped_cookie_is_looked_up() {
        // (cookie value, looked up)
        let cases = [
            (&"ab".repeat(32)[..], true),
            (&"AB".repeat(32)[..], false),
            (&"ab".repeat(31)[..], false),
            (&"ab".repeat(33)[..], false),
            (&"zz".repeat(32)[..], false),
            ("", false),
        ];
        for (value, looked_up) in cases {
            assert_eq!(SessionToken::from_cookie(value).is_some(), looked_up, "{value:?}");
        }
    }

    #[test]
    fn the_session_cookie_is_http_only_strict_and_lasts_the_lifetime() {
        let value = SessionToken::generate().cookie(43_200, OverHttps(false));
        assert!(
            value.contains("HttpOnly") && value.contains("SameSite=Strict") && value.contains("Path=/office")
        );
        assert!(value.ends_with("Max-Age=43200"), "{value}");
    }

    #[test]
    fn the_session_cookie_is_secure_exactly_over_https() {
        // (transport, Secure)
        for (transport, secure) in [(OverHttps(true), true), (OverHttps(false), false)] {
            let set = SessionToken::generate().cookie(60, transport);
            let ended = expired_session_cookie(transport);
            for value in [set, ended] {
                let attributes: Vec<&str> = value.split(';').map(str::trim).collect();
                assert_eq!(attributes.contains(&"Secure"), secure, "{value}");
                assert!(attributes.contains(&"HttpOnly"), "{value}");
            }
        }
    }
}
