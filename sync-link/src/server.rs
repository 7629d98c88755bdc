//! The server's repository: every visit document, synced with agents over
//! authenticated websockets.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures::{SinkExt, StreamExt, future::ready};
use samod::{DocumentId, PeerId, Repo, RepoEvent, RepoObserver, ShareConfig};
use tokio::sync::mpsc::UnboundedSender;

use crate::storage::{Adapter, KvStore, seed};
use crate::{LinkError, hex_heads, visit_id};

/// What a peer may do with a visit document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Receive the document and send changes to it.
    ReadWrite,
    /// Neither: the peer learns nothing about the document.
    Denied,
}

/// Decides access per visit and authenticated peer. Called once per
/// document and connection, so it must answer quickly (from memory).
pub trait Policy: Send + Sync + 'static {
    /// Access of `peer` to `visit_id`.
    fn access(&self, visit_id: &str, peer: &str) -> Access;
}

/// Bounds on one sync connection. automerge's sync can loop after a lost
/// message (automerge issues #772, #1284), so every connection has a
/// message budget and a deadline; a well-behaved agent reconnects.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Messages received before the connection is closed.
    pub max_messages: usize,
    /// Largest single message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Longest a connection may stay open.
    pub deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_messages: 200_000, max_message_bytes: 16 << 20, deadline: Duration::from_secs(600) }
    }
}

struct Observer(UnboundedSender<String>);

impl RepoObserver for Observer {
    fn observe(&self, event: &RepoEvent) {
        if let RepoEvent::SyncMessageReceived { document_id, .. } = event {
            let _ = self.0.send(visit_id(document_id));
        }
    }
}

struct EndSignal(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for EndSignal {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// The server's samod repository.
#[derive(Clone)]
pub struct ServerRepo {
    repo: Repo,
    acceptor: samod::AcceptorHandle,
    store: Adapter,
}

impl std::fmt::Debug for ServerRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerRepo").finish_non_exhaustive()
    }
}

impl ServerRepo {
    /// Starts the repository over `store`. `received` gets the id of every
    /// visit a peer sent a sync message for (to update projections).
    pub async fn start(
        store: Arc<dyn KvStore>,
        peer_id: &str,
        policy: Arc<dyn Policy>,
        received: UnboundedSender<String>,
    ) -> Result<ServerRepo, LinkError> {
        let store = Adapter(store);
        let repo = Repo::build_tokio()
            .with_storage(store.clone())
            .with_peer_id(PeerId::from(peer_id))
            .with_observer(Observer(received))
            .with_share_policy(move |doc: DocumentId, peer: PeerId| {
                let config = match policy.access(&visit_id(&doc), peer.as_str()) {
                    // The server never announces: agents ask for what they need.
                    Access::ReadWrite => ShareConfig::read_write().with_announce(false),
                    Access::Denied => ShareConfig::none(),
                };
                futures::stream::iter([config])
            })
            .load()
            .await;
        let url = samod::Url::parse("posfield://sync").map_err(|e| LinkError::Unreachable(e.to_string()))?;
        let acceptor = repo.make_acceptor(url)?;
        Ok(ServerRepo { repo, acceptor, store })
    }

    /// Runs a sync connection from `peer` (already authenticated) on an
    /// upgraded websocket until it ends.
    pub async fn serve(&self, socket: WebSocket, peer: &str, limits: Limits) -> Result<(), LinkError> {
        let (sink, stream) = socket.split();
        let deadline = tokio::time::sleep(limits.deadline);
        let max_bytes = limits.max_message_bytes;
        // Dropped with the stream, which samod drops when the connection ends.
        let (ended_tx, ended) = tokio::sync::oneshot::channel::<()>();
        let guard = EndSignal(Some(ended_tx));
        let stream = stream
            .take_until(deadline)
            .take(limits.max_messages)
            .take_while(|m| ready(!matches!(m, Ok(Message::Close(_)))))
            .filter_map(move |m| {
                let _alive = &guard;
                ready(match m {
                    Ok(Message::Binary(bytes)) if bytes.len() > max_bytes => {
                        Some(Err(axum::Error::new(LinkError::Lost(format!(
                            "a sync message of {} bytes is over the {max_bytes} byte limit",
                            bytes.len()
                        )))))
                    }
                    Ok(Message::Binary(bytes)) => Some(Ok(bytes.to_vec())),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                })
            });
        let sink = sink.with(|bytes: Vec<u8>| ready(Ok::<_, axum::Error>(Message::Binary(bytes.into()))));
        let transport =
            samod::Transport::new(Box::pin(stream), Box::pin(sink)).with_expected_peer_id(PeerId::from(peer));
        let _connection = self.acceptor.accept(transport)?;
        let _ = ended.await;
        Ok(())
    }

    /// The saved bytes and heads of a visit, or `None` if the server does not have it.
    pub async fn load(&self, visit: &str) -> Result<Option<(Vec<u8>, Vec<String>)>, LinkError> {
        let doc = crate::doc_id(visit)?;
        // Look in storage first: `find` on an unknown document would ask connected agents.
        if self.store.0.load_prefix(&doc.to_string()).is_empty() {
            return Ok(None);
        }
        let Some(handle) = self.repo.find(doc).await? else { return Ok(None) };
        Ok(Some(handle.with_document(|d| (d.save(), hex_heads(d)))))
    }

    /// Stores a new visit document, or merges the bytes into the existing one.
    /// Returns the heads afterwards.
    pub async fn merge(&self, visit: &str, bytes: Vec<u8>) -> Result<Vec<String>, LinkError> {
        let doc = crate::doc_id(visit)?;
        let document_error = |e: automerge::AutomergeError| LinkError::Document {
            id: visit.to_owned(),
            reason: e.to_string(),
        };
        if self.store.0.load_prefix(&doc.to_string()).is_empty() {
            automerge::Automerge::load(&bytes).map_err(document_error)?;
            seed(&self.store, visit, bytes).await?;
            let handle = self.repo.find(doc).await?.ok_or_else(|| LinkError::NotFound(visit.to_owned()))?;
            return Ok(handle.with_document(|d| hex_heads(d)));
        }
        let handle = self.repo.find(doc).await?.ok_or_else(|| LinkError::NotFound(visit.to_owned()))?;
        handle.with_document(|d| {
            d.load_incremental(&bytes).map_err(document_error)?;
            Ok(hex_heads(d))
        })
    }

    /// Stops the repository: pending storage writes finish first.
    pub async fn stop(&self) {
        self.acceptor.close();
        self.repo.stop().await;
    }
}
