//! The samod share policy of one sync connection: the store's access rule
//! ([`Store::reaches_visit`]) for the principal the connection
//! authenticated as. A visit id the server has never seen is claimed by
//! the agent that sends it first (visit ids are random UUIDs, so they
//! cannot be guessed); a visit of another agent is refused, and the peer
//! learns nothing about it, not even that it exists.

use std::sync::Arc;

use futures::future::BoxFuture;
use posfield_sync_link_server::{Access, Policy};

use crate::store::{Principal, Store};

/// The access of one connection's principal.
#[derive(Debug)]
pub struct ConnectionPolicy {
    store: Arc<dyn Store>,
    principal: Principal,
    peer: String,
}

impl ConnectionPolicy {
    /// The policy of a connection from `peer`, authenticated as `principal`.
    pub fn new(store: Arc<dyn Store>, principal: Principal, peer: String) -> ConnectionPolicy {
        ConnectionPolicy { store, principal, peer }
    }
}

impl Policy for ConnectionPolicy {
    fn access(&self, visit_id: &str, peer: &str) -> BoxFuture<'static, Access> {
        let (store, principal, visit_id) = (self.store.clone(), self.principal.clone(), visit_id.to_owned());
        let own_peer = peer == self.peer;
        Box::pin(async move {
            if !own_peer {
                return Access::Denied;
            }
            match store.reaches_visit(&principal, &visit_id, true).await {
                Ok(true) => Access::ReadWrite,
                Ok(false) => Access::Denied,
                Err(error) => {
                    tracing::error!(%visit_id, %error, "the access rule could not be read: access denied");
                    Access::Denied
                }
            }
        })
    }
}
