//! Sign-in sessions of the back office.
//!
//! A session is a random 256-bit token in an `HttpOnly`, `SameSite=Strict`
//! cookie scoped to `/office`, kept in memory with an idle timeout (a server
//! restart signs everyone out, which is the safe default). Each session has
//! its own CSRF token that every POST form carries; a POST whose `Origin`
//! names another site is refused before it is read.
//!
//! [`Officer`] is the only way a handler gets the signed-in user, and
//! [`Admin`] the only way an admin-only handler runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};

use super::PageError;
use crate::State;
use crate::auth::UserRole;
use crate::store::Principal;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "posfield_office";

/// How long a session lives without being used.
const IDLE: Duration = Duration::from_secs(8 * 3600);

/// At most this many sessions at once; the oldest are dropped first.
const MAX_SESSIONS: usize = 10_000;

#[derive(Clone)]
struct Session {
    user: String,
    role: UserRole,
    csrf: String,
    last_used: Instant,
}

/// The live sessions of one server.
#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Session>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tokens are secrets: only their number is shown.
        let count = self.live.lock().map(|l| l.len()).unwrap_or_default();
        f.debug_struct("Sessions").field("live", &count).finish()
    }
}

impl Sessions {
    /// Opens a session for a user whose password was checked; returns its token.
    pub fn open(&self, user: &str, role: UserRole) -> String {
        let token = hex::encode(crate::auth::random_bytes::<32>());
        let csrf = hex::encode(crate::auth::random_bytes::<16>());
        let mut live = self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        live.retain(|_, s| now.duration_since(s.last_used) < IDLE);
        if live.len() >= MAX_SESSIONS
            && let Some(oldest) = live.iter().min_by_key(|(_, s)| s.last_used).map(|(k, _)| k.clone())
        {
            live.remove(&oldest);
        }
        live.insert(token.clone(), Session { user: user.to_owned(), role, csrf, last_used: now });
        token
    }

    /// Ends a session.
    pub fn close(&self, token: &str) {
        self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(token);
    }

    fn find(&self, token: &str) -> Option<Session> {
        let mut live = self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let session = live.get_mut(token)?;
        if session.last_used.elapsed() >= IDLE {
            live.remove(token);
            return None;
        }
        session.last_used = Instant::now();
        Some(session.clone())
    }
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

/// The `Set-Cookie` value that carries a session token.
pub fn session_cookie(token: &str) -> String {
    format!("{SESSION_COOKIE}={token}; Path=/office; HttpOnly; SameSite=Strict; Max-Age={}", IDLE.as_secs())
}

/// The `Set-Cookie` value that ends the session cookie.
pub fn expired_session_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/office; HttpOnly; SameSite=Strict; Max-Age=0")
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
    token: String,
}

impl Officer {
    /// Whether the user is an administrator.
    pub fn is_admin(&self) -> bool {
        self.role == UserRole::Admin
    }

    /// Who the user acts as, for the store.
    pub fn principal(&self) -> Principal {
        Principal::Office { name: self.name.clone(), role: self.role }
    }

    /// The session token (to sign out).
    pub fn token(&self) -> &str {
        &self.token
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
        if parts.method == Method::POST && !same_origin(parts) {
            return Err(PageError::BadForm);
        }
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(PageError::SignIn)?;
        let session = state.office.sessions.find(&token).ok_or(PageError::SignIn)?;
        Ok(Officer { name: session.user, role: session.role, csrf: session.csrf, token })
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
    fn a_closed_session_is_gone_and_tokens_differ() {
        let sessions = Sessions::default();
        let one = sessions.open("chen", UserRole::Reviewer);
        let two = sessions.open("chen", UserRole::Reviewer);
        assert_ne!(one, two);
        assert_eq!(sessions.find(&one).unwrap().user, "chen");
        sessions.close(&one);
        assert!(sessions.find(&one).is_none());
        assert!(sessions.find(&two).is_some());
        assert!(!format!("{sessions:?}").contains(&two));
    }

    #[test]
    fn the_session_cookie_is_http_only_and_strict() {
        let value = session_cookie("t");
        assert!(
            value.contains("HttpOnly") && value.contains("SameSite=Strict") && value.contains("Path=/office")
        );
    }
}
