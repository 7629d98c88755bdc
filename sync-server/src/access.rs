//! Who may sync which visit, answered from memory.
//!
//! An agent's device may read and write the visits assigned to its agent or
//! first sent by it; nothing else, not even whether another visit exists.
//! A visit id the server has never seen is claimed by the first agent that
//! sends it (visit ids are random UUIDs, so they cannot be guessed).

use std::collections::HashMap;
use std::sync::RwLock;

use posfield_sync_link_server::{Access, Policy};
use rusqlite::Connection;

use crate::db::{DbError, now};

#[derive(Debug, Clone)]
struct VisitAccess {
    owner: String,
    assignee: String,
}

/// The access map.
#[derive(Debug, Default)]
pub struct AccessMap {
    visits: RwLock<HashMap<String, VisitAccess>>,
    /// Peer id of each device with a live credential -> its agent.
    peers: RwLock<HashMap<String, String>>,
}

impl AccessMap {
    /// Loads visits and live devices from the database.
    pub fn load(conn: &Connection) -> Result<AccessMap, DbError> {
        let map = AccessMap::default();
        {
            let mut visits = map.visits.write().unwrap_or_else(|p| p.into_inner());
            let mut statement = conn.prepare("SELECT id, owner, assignee FROM visits")?;
            for row in statement.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))? {
                let (id, owner, assignee) = row?;
                visits.insert(id, VisitAccess { owner, assignee });
            }
        }
        {
            let mut peers = map.peers.write().unwrap_or_else(|p| p.into_inner());
            let mut statement =
                conn.prepare("SELECT id, agent FROM devices WHERE revoked_at IS NULL AND expires_at > ?1")?;
            for row in
                statement.query_map([now()], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
            {
                let (device, agent) = row?;
                peers.insert(crate::auth::peer_of(&device), agent);
            }
        }
        Ok(map)
    }

    /// A device may sync as `peer` for `agent`.
    pub fn allow_peer(&self, peer: &str, agent: &str) {
        self.peers.write().unwrap_or_else(|p| p.into_inner()).insert(peer.to_owned(), agent.to_owned());
    }

    /// A device's credential was revoked.
    pub fn forbid_peer(&self, peer: &str) {
        self.peers.write().unwrap_or_else(|p| p.into_inner()).remove(peer);
    }

    /// Records a visit's owner and assignee.
    pub fn set_visit(&self, id: &str, owner: &str, assignee: &str) {
        self.visits
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned(), VisitAccess { owner: owner.to_owned(), assignee: assignee.to_owned() });
    }

    /// The agent that owns a visit (first sent it), if known.
    pub fn owner_of(&self, id: &str) -> Option<String> {
        self.visits.read().unwrap_or_else(|p| p.into_inner()).get(id).map(|v| v.owner.clone())
    }

    /// Whether `agent` may see visit `id`.
    pub fn agent_may_access(&self, agent: &str, id: &str) -> bool {
        self.visits
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .is_some_and(|v| v.owner == agent || v.assignee == agent)
    }
}

impl AccessMap {
    /// Access of `agent` to `visit_id`; a visit id never seen before is
    /// claimed for `agent` (owner and assignee).
    pub fn agent_access(&self, agent: &str, visit_id: &str) -> Access {
        let mut visits = self.visits.write().unwrap_or_else(|p| p.into_inner());
        match visits.get(visit_id) {
            Some(v) if v.owner == agent || v.assignee == agent => Access::ReadWrite,
            Some(_) => {
                tracing::debug!(%visit_id, %agent, "sync of another agent's visit refused");
                Access::Denied
            }
            None => {
                let claim = VisitAccess { owner: agent.to_owned(), assignee: agent.to_owned() };
                visits.insert(visit_id.to_owned(), claim);
                Access::ReadWrite
            }
        }
    }
}

impl Policy for AccessMap {
    fn access(&self, visit_id: &str, peer: &str) -> Access {
        let Some(agent) = self.peers.read().unwrap_or_else(|p| p.into_inner()).get(peer).cloned() else {
            return Access::Denied;
        };
        self.agent_access(&agent, visit_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_reach_their_own_and_assigned_visits_only() {
        let map = AccessMap::default();
        map.allow_peer("device:a", "wang");
        map.allow_peer("device:b", "li");
        map.set_visit("v1", "wang", "wang");
        map.set_visit("v2", "office", "li");
        assert_eq!(map.access("v1", "device:a"), Access::ReadWrite);
        assert_eq!(map.access("v1", "device:b"), Access::Denied);
        assert_eq!(map.access("v2", "device:b"), Access::ReadWrite);
        assert_eq!(map.access("v2", "device:a"), Access::Denied);
        assert_eq!(map.access("v1", "device:unknown"), Access::Denied);
        // A new visit is claimed by the first agent that sends it.
        assert_eq!(map.access("v3", "device:b"), Access::ReadWrite);
        assert_eq!(map.owner_of("v3").as_deref(), Some("li"));
        assert_eq!(map.access("v3", "device:a"), Access::Denied);
        // The same rules by agent name, for pushes.
        assert_eq!(map.agent_access("wang", "v1"), Access::ReadWrite);
        assert_eq!(map.agent_access("wang", "v3"), Access::Denied);
        assert_eq!(map.agent_access("wang", "v4"), Access::ReadWrite);
        assert_eq!(map.owner_of("v4").as_deref(), Some("wang"));
        map.forbid_peer("device:b");
        assert_eq!(map.access("v2", "device:b"), Access::Denied);
    }
}
