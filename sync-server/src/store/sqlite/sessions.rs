//! The SQL of back-office users' sessions (migration V4): the token only
//! as its SHA-256, the role read from the user's row.

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::{NewSession, SessionLimits, SessionRecord, StoreError, UserRole};

/// Removes every session that is over at `at`.
fn remove_over(c: &Connection, at: i64, limits: SessionLimits) -> Result<(), StoreError> {
    c.prepare_cached("DELETE FROM office_sessions WHERE last_used_at <= ?1 OR created_at <= ?2")?
        .execute(params![at - limits.idle_secs, at - limits.lifetime_secs])?;
    Ok(())
}

/// Stores a session of a user who still has the password hash the sign-in
/// was checked against, after removing those that are over; then keeps the
/// user's most recently used [`SessionLimits::per_user`]. Whether it was stored.
pub(super) fn create(
    c: &mut Connection,
    session: &NewSession,
    limits: SessionLimits,
) -> Result<bool, StoreError> {
    let tx = c.transaction()?;
    remove_over(&tx, session.at, limits)?;
    let stored = tx
        .prepare_cached(
            "INSERT INTO office_sessions (token_hash, user_name, csrf, created_at, last_used_at)
             SELECT ?1, ?2, ?3, ?4, ?4 WHERE EXISTS (SELECT 1 FROM users WHERE name = ?2 AND password_hash = ?5)",
        )?
        .execute(params![session.token_hash, session.user, session.csrf, session.at, session.password_hash])?
        > 0;
    tx.prepare_cached(
        "DELETE FROM office_sessions WHERE user_name = ?1 AND token_hash NOT IN (
             SELECT token_hash FROM office_sessions WHERE user_name = ?1
             ORDER BY last_used_at DESC, created_at DESC LIMIT ?2)",
    )?
    .execute(params![session.user, limits.per_user as i64])?;
    tx.commit()?;
    Ok(stored)
}

/// The live session of a token hash; one that is over is removed.
pub(super) fn find(
    c: &Connection,
    token_hash: &str,
    at: i64,
    limits: SessionLimits,
) -> Result<Option<SessionRecord>, StoreError> {
    let found = c
        .prepare_cached(
            "SELECT s.user_name, u.role, s.csrf, s.created_at, s.last_used_at
             FROM office_sessions s JOIN users u ON u.name = s.user_name WHERE s.token_hash = ?1",
        )?
        .query_row([token_hash], |r| {
            Ok(SessionRecord {
                user: r.get(0)?,
                role: UserRole::from_code(&r.get::<_, String>(1)?),
                csrf: r.get(2)?,
                created_at: r.get(3)?,
                last_used_at: r.get(4)?,
            })
        })
        .optional()?;
    match found {
        Some(session) if limits.live(session.created_at, session.last_used_at, at) => Ok(Some(session)),
        Some(_) => {
            end(c, token_hash)?;
            Ok(None)
        }
        None => Ok(None),
    }
}

/// Records a use of a session; a use is never moved back in time.
pub(super) fn touch(c: &Connection, token_hash: &str, at: i64) -> Result<(), StoreError> {
    c.prepare_cached(
        "UPDATE office_sessions SET last_used_at = max(last_used_at, ?2) WHERE token_hash = ?1",
    )?
    .execute(params![token_hash, at])?;
    Ok(())
}

/// Ends a session; whether there was one.
pub(super) fn end(c: &Connection, token_hash: &str) -> Result<bool, StoreError> {
    Ok(c.prepare_cached("DELETE FROM office_sessions WHERE token_hash = ?1")?.execute([token_hash])? > 0)
}

/// Ends every session of a user; how many there were.
pub(super) fn end_all(c: &Connection, user: &str) -> Result<u64, StoreError> {
    Ok(c.prepare_cached("DELETE FROM office_sessions WHERE user_name = ?1")?.execute([user])? as u64)
}
