//! Visits held against the other server nodes ([`crate::store::Store::hold_visits`]):
//! PostgreSQL session advisory locks, one per visit, taken in id order on a
//! connection of a pool of their own (so a holder never waits for a
//! connection its own work needs) and kept until the holder is dropped.
//! A node that dies loses its session, and with it its locks.

use deadpool_postgres::{Object, Pool};

use super::query;
use crate::store::{HeldVisits, StoreError};

/// Longest a node waits for another's hold on a visit: a projection holds
/// it for milliseconds, so this is a node stuck, and the request fails
/// (the phone syncs again) rather than waiting for ever.
pub(super) const LOCK_TIMEOUT: &str = "60s";

/// Holds visits `ids` (sorted, each once) on a connection of `locks`.
pub(super) async fn hold(locks: &Pool, ids: &[String]) -> Result<HeldVisits, StoreError> {
    if ids.is_empty() {
        return Ok(HeldVisits::default());
    }
    let keys: Vec<String> = ids.iter().map(|id| format!("visit:{id}")).collect();
    let client = locks.get().await?;
    // A function scan yields the array in its order: each lock is taken as
    // its row is produced, so every node takes them in the same order.
    let taken = query(
        &client,
        "SELECT pg_advisory_lock(hashtextextended(k, 0)) FROM unnest($1::text[]) AS k",
        &[&keys],
    )
    .await;
    match taken {
        Ok(_) => Ok(HeldVisits::new(Session(Some(client)))),
        Err(e) => {
            // Some of them may be held: the connection is closed, not
            // pooled, and its session's end gives them back.
            drop(Object::take(client));
            Err(e)
        }
    }
}

/// The connection whose session holds the locks.
struct Session(Option<Object>);

impl Drop for Session {
    fn drop(&mut self) {
        let Some(client) = self.0.take() else { return };
        // With no runtime left (the server is ending) the connection is
        // closed, never pooled with its locks.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            drop(Object::take(client));
            return;
        };
        runtime.spawn(async move {
            // Back to the pool only with nothing held; a connection that
            // cannot say so is closed instead.
            if client.execute("SELECT pg_advisory_unlock_all()", &[]).await.is_err() {
                drop(Object::take(client));
            }
        });
    }
}
