//! The SQL of the automerge actors devices write under: each device's
//! prefix, and the actors bound to a device on first use.

use deadpool_postgres::GenericClient;

use super::{execute, query_one, query_opt};
use crate::actors::PREFIX_LEN;
use crate::store::{ActorOwner, ActorOwners, StoreError};

/// Device `device_id`'s prefix, and who each of `actors` belongs to.
pub(super) async fn owners<C: GenericClient>(
    c: &C,
    device_id: &str,
    actors: &[Vec<u8>],
) -> Result<ActorOwners, StoreError> {
    let own_prefix: Option<Vec<u8>> =
        match query_opt(c, "SELECT actor_prefix FROM devices WHERE id = $1", &[&device_id]).await? {
            Some(row) => row.try_get(0)?,
            None => None,
        };
    let mut owners = Vec::with_capacity(actors.len());
    for actor in actors {
        let prefix_of = match actor.get(..PREFIX_LEN) {
            Some(prefix) => {
                match query_opt(c, "SELECT id FROM devices WHERE actor_prefix = $1", &[&prefix]).await? {
                    Some(row) => Some(row.try_get(0)?),
                    None => None,
                }
            }
            None => None,
        };
        let bound_to =
            match query_opt(c, "SELECT device_id FROM actor_bindings WHERE actor = $1", &[actor]).await? {
                Some(row) => Some(row.try_get(0)?),
                None => None,
            };
        owners.push(ActorOwner { prefix_of, bound_to });
    }
    Ok(ActorOwners { own_prefix, actors: owners })
}

/// A device enrolled again: its server id, and its actor prefix if it had one.
pub(super) type Previous = (String, Option<Vec<u8>>);

/// The device of `agent` whose credential (or a renewal of it) has the
/// SHA-256 `token_hash`, and its actor prefix, which it gives up: it is
/// revoked at `at` (if it was not), its renewals go and its prefix is
/// cleared, for the device enrolling in its place to take.
pub(super) async fn release_previous<C: GenericClient>(
    c: &C,
    agent: &str,
    token_hash: &str,
    at: i64,
) -> Result<Option<Previous>, StoreError> {
    let row = query_opt(
        c,
        "SELECT id, actor_prefix FROM devices WHERE agent = $1 AND (token_hash = $2
             OR id IN (SELECT device_id FROM credential_renewals WHERE token_hash = $2))
         FOR UPDATE",
        &[&agent, &token_hash],
    )
    .await?;
    let previous: Option<Previous> = match row {
        Some(row) => Some((row.try_get(0)?, row.try_get(1)?)),
        None => None,
    };
    if let Some((id, _)) = &previous {
        execute(
            c,
            "UPDATE devices SET actor_prefix = NULL, revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
            &[id, &at],
        )
        .await?;
        execute(c, "DELETE FROM credential_renewals WHERE device_id = $1", &[id]).await?;
    }
    Ok(previous)
}

/// Every actor bound to device `from` is bound to device `to` from now on.
pub(super) async fn hand_over_bindings<C: GenericClient>(
    c: &C,
    from: &str,
    to: &str,
) -> Result<(), StoreError> {
    execute(c, "UPDATE actor_bindings SET device_id = $2 WHERE device_id = $1", &[&from, &to]).await?;
    Ok(())
}

/// Binds `actors` to `device_id` in `c`'s transaction; the first one bound
/// to another device, and that device, when there is one (the caller then
/// rolls back, binding none).
pub(super) async fn bind<C: GenericClient>(
    c: &C,
    device_id: &str,
    actors: &[Vec<u8>],
    at: i64,
) -> Result<Option<(Vec<u8>, String)>, StoreError> {
    for actor in actors {
        execute(
            c,
            "INSERT INTO actor_bindings (actor, device_id, bound_at) VALUES ($1, $2, $3)
             ON CONFLICT (actor) DO NOTHING",
            &[actor, &device_id, &at],
        )
        .await?;
        let owner: String = query_one(c, "SELECT device_id FROM actor_bindings WHERE actor = $1", &[actor])
            .await?
            .try_get(0)?;
        if owner != device_id {
            return Ok(Some((actor.clone(), owner)));
        }
    }
    Ok(None)
}
