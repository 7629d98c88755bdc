//! The SQL of the automerge actors devices write under (migration V9):
//! each device's prefix, and the actors bound to a device on first use.

use rusqlite::{Connection, OptionalExtension, params};

use super::super::{ActorOwner, ActorOwners, StoreError};
use crate::actors::PREFIX_LEN;

/// Device `device_id`'s prefix, and who each of `actors` belongs to.
pub(super) fn owners(c: &Connection, device_id: &str, actors: &[Vec<u8>]) -> Result<ActorOwners, StoreError> {
    let own_prefix: Option<Vec<u8>> = c
        .prepare_cached("SELECT actor_prefix FROM devices WHERE id = ?1")?
        .query_row([device_id], |r| r.get(0))
        .optional()?
        .flatten();
    let mut by_prefix = c.prepare_cached("SELECT id FROM devices WHERE actor_prefix = ?1")?;
    let mut binding = c.prepare_cached("SELECT device_id FROM actor_bindings WHERE actor = ?1")?;
    let mut owners = Vec::with_capacity(actors.len());
    for actor in actors {
        let prefix_of = match actor.get(..PREFIX_LEN) {
            Some(prefix) => by_prefix.query_row([prefix], |r| r.get(0)).optional()?,
            None => None,
        };
        let bound_to = binding.query_row([actor], |r| r.get(0)).optional()?;
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
pub(super) fn release_previous(
    c: &Connection,
    agent: &str,
    token_hash: &str,
    at: i64,
) -> Result<Option<Previous>, StoreError> {
    let previous: Option<Previous> = c
        .prepare_cached(
            "SELECT id, actor_prefix FROM devices WHERE agent = ?1 AND (token_hash = ?2
                 OR id IN (SELECT device_id FROM credential_renewals WHERE token_hash = ?2))",
        )?
        .query_row(params![agent, token_hash], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if let Some((id, _)) = &previous {
        c.execute(
            "UPDATE devices SET actor_prefix = NULL, revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
            params![id, at],
        )?;
        c.execute("DELETE FROM credential_renewals WHERE device_id = ?1", [id])?;
    }
    Ok(previous)
}

/// Every actor bound to device `from` is bound to device `to` from now on.
pub(super) fn hand_over_bindings(c: &Connection, from: &str, to: &str) -> Result<(), StoreError> {
    c.execute("UPDATE actor_bindings SET device_id = ?2 WHERE device_id = ?1", params![from, to])?;
    Ok(())
}

/// Binds `actors` to `device_id`, all or none; the first one bound to
/// another device, and that device, when there is one.
pub(super) fn bind(
    c: &mut Connection,
    device_id: &str,
    actors: &[Vec<u8>],
    at: i64,
) -> Result<Option<(Vec<u8>, String)>, StoreError> {
    let tx = c.transaction()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO actor_bindings (actor, device_id, bound_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (actor) DO NOTHING",
        )?;
        let mut bound = tx.prepare_cached("SELECT device_id FROM actor_bindings WHERE actor = ?1")?;
        for actor in actors {
            insert.execute(params![actor, device_id, at])?;
            let owner: String = bound.query_row([actor], |r| r.get(0))?;
            if owner != device_id {
                // Dropping the transaction unbinds the actors bound before this one.
                return Ok(Some((actor.clone(), owner)));
            }
        }
    }
    tx.commit()?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::super::{SqliteStore, connect, embedded};
    use super::PREFIX_LEN;
    use crate::store::{NewDevice, Store};

    fn device(code: &str, id: &str, prefix: [u8; PREFIX_LEN]) -> NewDevice {
        NewDevice {
            code_hash: code.into(),
            device_id: id.into(),
            token_hash: format!("token-{id}"),
            client_device_id: format!("phone-{id}"),
            name: String::new(),
            public_key: "00".repeat(32),
            at: 10,
            expires_at: i64::MAX,
            actor_prefix: prefix,
            previous_token_hash: None,
        }
    }

    /// A database written by version 8, with a device enrolled then, opened
    /// by today's code: the device still authenticates, has no prefix, and
    /// the actors its pushes bring are bound to it on first use and are
    /// nobody else's from then on; a device enrolled now is known by its prefix.
    #[tokio::test]
    async fn a_device_enrolled_before_prefixes_keeps_working_and_binds_its_actors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        {
            let mut conn = connect(&path).unwrap();
            embedded::migrations::runner().set_target(refinery::Target::Version(8)).run(&mut conn).unwrap();
            conn.execute_batch(
                "INSERT INTO agents (name, created_at) VALUES ('wang', 1);
                 INSERT INTO devices (id, agent, token_hash, client_device_id, name, public_key, created_at, expires_at)
                 VALUES ('old-device', 'wang', 'old-token', 'phone-1', '', 'aa', 1, 9223372036854775807);",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let old = store.device_by_token("old-token").await.unwrap().expect("the device enrolled before V9");
        assert_eq!((old.agent.as_str(), old.revoked), ("wang", false));

        let drawn = b"sixteen random b".to_vec();
        let owners = store.actor_owners("old-device", std::slice::from_ref(&drawn)).await.unwrap();
        assert_eq!((owners.own_prefix, owners.actors[0].clone()), (None, Default::default()));
        assert_eq!(store.bind_actors("old-device", std::slice::from_ref(&drawn), 20).await.unwrap(), None);
        assert_eq!(store.bind_actors("old-device", std::slice::from_ref(&drawn), 30).await.unwrap(), None);
        let owners = store.actor_owners("old-device", std::slice::from_ref(&drawn)).await.unwrap();
        assert_eq!(owners.actors[0].bound_to.as_deref(), Some("old-device"));

        store.add_enrolment_code("wang", "code", 1, i64::MAX).await.unwrap();
        store.enrol(device("code", "new-device", *b"prefix-n")).await.unwrap().expect("enrolled");
        let under_prefix = b"prefix-nprocess1".to_vec();
        let owners = store.actor_owners("new-device", &[under_prefix, drawn.clone()]).await.unwrap();
        assert_eq!(owners.own_prefix.as_deref(), Some(&b"prefix-n"[..]));
        assert_eq!(owners.actors[0].prefix_of.as_deref(), Some("new-device"));
        assert_eq!(owners.actors[1].bound_to.as_deref(), Some("old-device"));

        // Binding is all or none: an actor of the old device's in the list
        // leaves the new one's others unbound.
        let fresh = b"another random b".to_vec();
        let refused = store.bind_actors("new-device", &[fresh.clone(), drawn.clone()], 40).await.unwrap();
        assert_eq!(refused, Some((drawn, "old-device".to_owned())));
        let owners = store.actor_owners("new-device", &[fresh]).await.unwrap();
        assert_eq!(owners.actors[0].bound_to, None);
    }
}
