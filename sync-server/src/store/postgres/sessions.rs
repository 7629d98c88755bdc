//! The SQL of back-office users' sessions: the token only as its SHA-256,
//! the role read from the user's row.

use deadpool_postgres::GenericClient;

use super::{execute, limit_of, query_opt};
use crate::store::{NewSession, SessionLimits, SessionRecord, StoreError, UserRole};

/// Removes every session that is over at `at`.
async fn remove_over<C: GenericClient>(c: &C, at: i64, limits: SessionLimits) -> Result<(), StoreError> {
    execute(
        c,
        "DELETE FROM office_sessions WHERE last_used_at <= $1 OR created_at <= $2",
        &[&(at - limits.idle_secs), &(at - limits.lifetime_secs)],
    )
    .await?;
    Ok(())
}

/// Stores, in `c`'s transaction, a session of a user who still has the
/// password hash the sign-in was checked against, after removing those
/// that are over; then keeps the user's most recently used
/// [`SessionLimits::per_user`]. Whether it was stored.
pub(super) async fn create<C: GenericClient>(
    c: &C,
    session: &NewSession,
    limits: SessionLimits,
) -> Result<bool, StoreError> {
    remove_over(c, session.at, limits).await?;
    let stored = execute(
        c,
        "INSERT INTO office_sessions (token_hash, user_name, csrf, created_at, last_used_at)
         SELECT $1, $2, $3, $4, $4 WHERE EXISTS (SELECT 1 FROM users WHERE name = $2 AND password_hash = $5)",
        &[&session.token_hash, &session.user, &session.csrf, &session.at, &session.password_hash],
    )
    .await?
        > 0;
    execute(
        c,
        "DELETE FROM office_sessions WHERE user_name = $1 AND token_hash NOT IN (
             SELECT token_hash FROM office_sessions WHERE user_name = $1
             ORDER BY last_used_at DESC, created_at DESC LIMIT $2)",
        &[&session.user, &limit_of(limits.per_user)],
    )
    .await?;
    Ok(stored)
}

/// The live session of a token hash; one that is over is removed.
pub(super) async fn find<C: GenericClient>(
    c: &C,
    token_hash: &str,
    at: i64,
    limits: SessionLimits,
) -> Result<Option<SessionRecord>, StoreError> {
    let row = query_opt(
        c,
        "SELECT s.user_name, u.role, s.csrf, s.created_at, s.last_used_at
         FROM office_sessions s JOIN users u ON u.name = s.user_name WHERE s.token_hash = $1",
        &[&token_hash],
    )
    .await?;
    let found = match row {
        Some(r) => Some(SessionRecord {
            user: r.try_get(0)?,
            role: UserRole::from_code(&r.try_get::<_, String>(1)?),
            csrf: r.try_get(2)?,
            created_at: r.try_get(3)?,
            last_used_at: r.try_get(4)?,
        }),
        None => None,
    };
    match found {
        Some(session) if limits.live(session.created_at, session.last_used_at, at) => Ok(Some(session)),
        Some(_) => {
            end(c, token_hash).await?;
            Ok(None)
        }
        None => Ok(None),
    }
}

/// Records a use of a session; a use is never moved back in time.
pub(super) async fn touch<C: GenericClient>(c: &C, token_hash: &str, at: i64) -> Result<(), StoreError> {
    execute(
        c,
        "UPDATE office_sessions SET last_used_at = GREATEST(last_used_at, $2) WHERE token_hash = $1",
        &[&token_hash, &at],
    )
    .await?;
    Ok(())
}

/// Ends a session; whether there was one.
pub(super) async fn end<C: GenericClient>(c: &C, token_hash: &str) -> Result<bool, StoreError> {
    Ok(execute(c, "DELETE FROM office_sessions WHERE token_hash = $1", &[&token_hash]).await? > 0)
}

/// Ends every session of a user; how many there were.
pub(super) async fn end_all<C: GenericClient>(c: &C, user: &str) -> Result<u64, StoreError> {
    execute(c, "DELETE FROM office_sessions WHERE user_name = $1", &[&user]).await
}
