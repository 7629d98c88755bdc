//! The samod share policy of one sync connection: the store's access rule
//! ([`Store::reaches_visit`]) for the principal the connection
//! authenticated as. A visit the principal reaches is shared read-only:
//! the phone receives the server's changes, and its own go up in a push,
//! where the server checks them. A visit of another agent, or one the
//! server has never seen (a new visit arrives in a push, which claims it),
//! is refused, and the peer learns nothing about it, not even that it
//! exists.

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
            // Nothing is claimed here: nothing can be stored through the
            // websocket, so a visit id the server has never seen stays
            // free for the push that brings the visit.
            match store.reaches_visit(&principal, &visit_id, false).await {
                Ok(true) => Access::Read,
                Ok(false) => Access::Denied,
                Err(error) => {
                    tracing::error!(%visit_id, %error, "the access rule could not be read: access denied");
                    Access::Denied
                }
            }
        })
    }

    /// The projection's heads: what the store holds once projected, which
    /// every writer (a push, a connection's own saving, the desk, on this
    /// node or another) updates in the unit of work that stores the change.
    fn stored_heads(&self, visit_id: &str) -> BoxFuture<'static, Option<Vec<String>>> {
        let (store, visit_id) = (self.store.clone(), visit_id.to_owned());
        Box::pin(async move {
            match store.projected(&visit_id).await {
                Ok(projected) => projected.map(|p| p.heads.split(',').map(str::to_owned).collect()),
                Err(error) => {
                    tracing::warn!(%visit_id, %error, "the stored heads could not be read");
                    None
                }
            }
        })
    }
}
