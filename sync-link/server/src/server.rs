//! The server's repository: every visit document, read by agents over
//! authenticated websockets.
//!
//! A phone writes only through the push (`POST /api/v1/sync/push`), where
//! the server checks every change before it stores it. On the websocket
//! the server shares a visit read-only, so samod sends the phone the
//! server's changes and ignores any the phone sends (automerge's sync state
//! drops them before they reach the document). A phone of an older
//! protocol waits in its session until the server holds its changes; its
//! connection takes them into the connection's copy in memory and stores
//! nothing at all ([`PeerChanges::Discarded`]), and the phone pushes them in
//! its sync's next round. Either way nothing a phone sends on the
//! websocket is stored.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt, future::ready};
use posfield_sync_link_client::runtime::Tracked;
use posfield_sync_link_client::{LinkError, hex_heads, visit_id};
use samod::{DocumentId, PeerId, Repo, ShareConfig};

use crate::storage::{Adapter, KvStore, chunk_key};

/// What a peer may do with a visit document over the websocket. There is
/// no writing: a phone's changes go through the checked push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Receive the document and the server's changes to it; what the peer
    /// sends is ignored.
    Read,
    /// Nothing: the peer learns nothing about the document.
    Denied,
}

/// What a connection does with the changes its peer sends. Neither stores
/// them: a phone's changes are stored only through the checked push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerChanges {
    /// samod's sync ignores them: each visit is shared read-only, and what
    /// the connection's repository writes is samod's own saving of the
    /// documents it loaded. For phones that pull on the websocket and push
    /// their own changes.
    Ignored,
    /// samod takes them into the connection's copy of the document, in
    /// memory, and the connection's repository writes nothing at all. For
    /// phones of older protocols, whose session waits until the server
    /// holds its changes: it ends, and the phone pushes them next.
    Discarded,
}

/// Decides access per visit for the authenticated peer of one connection,
/// and says what the server stores of a visit now.
pub trait Policy: Send + Sync + 'static {
    /// Access of `peer` to `visit_id`. Called once per document and
    /// connection, before the document is shared.
    fn access(&self, visit_id: &str, peer: &str) -> BoxFuture<'static, Access>;

    /// The heads (hex) of visit `visit_id` as the server stores it now, or
    /// `None` when it cannot say. An open connection asks every
    /// [`Limits::refresh`] for each visit it shares, and takes what the
    /// store holds beyond its copy (another connection's, a push's or the
    /// back office's changes, made through this server process or
    /// another): so it must be cheap, such as the projection's heads.
    fn stored_heads(&self, visit_id: &str) -> BoxFuture<'static, Option<Vec<String>>>;
}

/// Bounds on one sync connection. automerge's sync can loop after a lost
/// message (automerge issues #772, #1284), so every connection has a
/// message budget and a deadline; a well-behaved agent reconnects. A peer
/// that sends nothing for `idle` is closed too, so idle connections cannot
/// hold the server's turns.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Messages received before the connection is closed.
    pub max_messages: usize,
    /// Largest single message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Longest a connection may stay open.
    pub deadline: Duration,
    /// Longest the peer may send nothing before the connection is closed.
    pub idle: Duration,
    /// How often the connection compares its copies of the visits it shares
    /// with the store ([`Policy::stored_heads`]).
    pub refresh: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_messages: 200_000,
            max_message_bytes: 16 << 20,
            deadline: Duration::from_secs(600),
            idle: Duration::from_secs(60),
            refresh: Duration::from_secs(1),
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

/// The server's documents: one store, and a samod repository for each sync
/// connection while it lasts.
///
/// A repository per connection rather than one for the whole server:
/// samod 0.16's hub walks every loaded document for every connection on
/// each event it handles (`ensure_connections`), so one repository serving
/// many agents at once does work that grows with connections x documents
/// per message, and it never unloads a document. A connection's repository
/// holds only the documents that connection syncs and is dropped, its
/// writes flushed, when the connection ends (docs/decisions.md has the
/// measurement). The repositories share the store: samod keys changes by
/// their hash and a compaction deletes only chunks it loaded or wrote
/// itself, so writers never undo each other.
#[derive(Clone)]
pub struct ServerRepo {
    store: Arc<dyn KvStore>,
    peer_id: String,
    running: Arc<Running>,
}

impl std::fmt::Debug for ServerRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerRepo").field("peer_id", &self.peer_id).finish_non_exhaustive()
    }
}

/// Connections being served, so that stopping closes them and waits for
/// their writes.
#[derive(Default)]
struct Running {
    open: Mutex<usize>,
    stopping: AtomicBool,
    changed: tokio::sync::Notify,
}

impl Running {
    /// Resolves once [`ServerRepo::stop`] has been called.
    async fn stopping(&self) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            changed.await;
        }
    }
}

/// Counts a connection as open until dropped.
struct Open(Arc<Running>);

impl Open {
    fn new(running: &Arc<Running>) -> Open {
        if let Ok(mut open) = running.open.lock() {
            *open += 1;
        }
        Open(running.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if let Ok(mut open) = self.0.open.lock() {
            *open = open.saturating_sub(1);
        }
        self.0.changed.notify_waiters();
    }
}

impl ServerRepo {
    /// The repository over `store`, answering as `peer_id`.
    pub fn new(store: Arc<dyn KvStore>, peer_id: &str) -> ServerRepo {
        ServerRepo { store, peer_id: peer_id.to_owned(), running: Arc::default() }
    }

    /// Runs a sync connection from `peer` (already authenticated) on an
    /// upgraded websocket until it ends, sharing each visit as `policy`
    /// decides and treating the peer's changes as `changes` says, then
    /// waits until the connection's repository has finished writing.
    /// Nothing the peer sends is stored, but with [`PeerChanges::Ignored`]
    /// samod writes chunks of its own: a document it loads is saved again
    /// (its changes one by one, or compacted into one snapshot that replaces
    /// the chunks it loaded). Returns the visits whose stored chunks the
    /// repository wrote or deleted, so that the caller projects what is
    /// stored. A write (or read) the store could not make ends the
    /// connection at once with [`LinkError::Storage`]; `close` resolving
    /// (the device was revoked) ends it as its deadline does.
    pub async fn serve(
        &self,
        socket: WebSocket,
        peer: &str,
        limits: Limits,
        policy: Arc<dyn Policy>,
        changes: PeerChanges,
        close: BoxFuture<'static, ()>,
    ) -> Result<BTreeSet<String>, LinkError> {
        if self.running.stopping.load(Ordering::SeqCst) {
            return Err(LinkError::Stopped);
        }
        let _open = Open::new(&self.running);
        let storage = match changes {
            PeerChanges::Ignored => Adapter::new(self.store.clone()),
            PeerChanges::Discarded => Adapter::discarding(self.store.clone()),
        };
        let runtime = Tracked::current();
        // The visits shared with the peer, kept fresh from the store.
        let shared: Arc<Mutex<BTreeSet<DocumentId>>> = Arc::default();
        let sharing = shared.clone();
        let asked = policy.clone();
        let repo = Repo::build_tokio()
            .with_runtime(runtime.clone())
            .with_storage(storage.clone())
            .with_peer_id(PeerId::from(self.peer_id.as_str()))
            .with_share_policy(move |doc: DocumentId, peer: PeerId| {
                let access = asked.access(&visit_id(&doc), peer.as_str());
                let sharing = sharing.clone();
                futures::stream::once(async move {
                    let access = access.await;
                    if access == Access::Read {
                        sharing.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(doc);
                    }
                    match access {
                        // The server never announces: agents ask for what they need.
                        Access::Read => match changes {
                            // samod's sync state drops the peer's changes.
                            PeerChanges::Ignored => ShareConfig::read_only().with_announce(false),
                            // Taken in memory; the storage writes nothing.
                            PeerChanges::Discarded => ShareConfig::read_write().with_announce(false),
                        },
                        Access::Denied => ShareConfig::none(),
                    }
                })
            })
            .load()
            .await;
        let result = tokio::select! {
            result = run_connection(&repo, socket, peer, limits, close) => result,
            failure = self.keep_fresh(&repo, &shared, &policy, limits.refresh) => Err(failure),
            () = self.running.stopping() => Ok(()),
            // The socket goes with the connection: the peer sees it cut.
            failure = storage.failed() => Err(failure.into()),
        };
        // Every write of the repository is made once it has stopped.
        repo.stop().await;
        runtime.end();
        result?;
        if let Some(failure) = storage.failure() {
            return Err(failure.into());
        }
        Ok(storage.written())
    }

    /// Every `every`, brings the connection's copy of each visit it shares
    /// up to what the store holds, when the store's heads name changes the
    /// copy lacks; samod then sends them to the peer. Resolves only with a
    /// chunk the store could not read, which ends the connection.
    async fn keep_fresh(
        &self,
        repo: &Repo,
        shared: &Mutex<BTreeSet<DocumentId>>,
        policy: &Arc<dyn Policy>,
        every: Duration,
    ) -> LinkError {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let docs: Vec<DocumentId> =
                shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().cloned().collect();
            for doc in docs {
                if let Err(failure) = self.refresh(repo, &doc, policy.as_ref()).await {
                    return failure;
                }
            }
        }
    }

    /// Loads into the connection's copy of `doc` the stored chunks, when the
    /// store's heads name a change the copy lacks.
    async fn refresh(&self, repo: &Repo, doc: &DocumentId, policy: &dyn Policy) -> Result<(), LinkError> {
        let Some(stored) = policy.stored_heads(&visit_id(doc)).await else { return Ok(()) };
        let Ok(Some(handle)) = repo.find(doc.clone()).await else { return Ok(()) };
        let lacking = handle.with_document(|d| {
            stored.iter().any(|head| match head.parse::<automerge::ChangeHash>() {
                Ok(hash) => automerge::ReadDoc::get_change_by_hash(d, &hash).is_none(),
                Err(_) => false,
            })
        });
        if !lacking {
            return Ok(());
        }
        let chunks = self.store.load_prefix(doc.to_string()).await?;
        let id = visit_id(doc);
        handle.with_document(|d| {
            for (_, bytes) in &chunks {
                if let Err(error) = d.load_incremental(bytes) {
                    tracing::warn!(visit = %id, %error, "a stored chunk did not load into an open connection's copy");
                }
            }
        });
        tracing::debug!(visit = %id, "an open connection's copy refreshed from the store");
        Ok(())
    }

    /// A visit's stored chunks (saved documents and changes, to be loaded
    /// together in any order), or `None` if the server does not have it.
    pub async fn chunks(&self, visit: &str) -> Result<Option<Vec<Vec<u8>>>, LinkError> {
        let prefix = crate::doc_id(visit)?.to_string();
        let chunks = self.store.load_prefix(prefix).await?;
        Ok((!chunks.is_empty()).then(|| chunks.into_iter().map(|(_, bytes)| bytes).collect()))
    }

    /// A visit's document as stored, or `None` if the server does not have it.
    pub async fn document(&self, visit: &str) -> Result<Option<automerge::Automerge>, LinkError> {
        let prefix = crate::doc_id(visit)?.to_string();
        let chunks = self.store.load_prefix(prefix).await?;
        let visit = visit.to_owned();
        tokio::task::spawn_blocking(move || load_chunks(&visit, chunks))
            .await
            .map_err(|_| LinkError::Stopped)?
    }

    /// The saved bytes and heads of a visit, or `None` if the server does not have it.
    pub async fn load(&self, visit: &str) -> Result<Option<(Vec<u8>, Vec<String>)>, LinkError> {
        Ok(self.document(visit).await?.map(|d| (d.save(), hex_heads(&d))))
    }

    /// Stores a new visit document, or merges the bytes (a saved document or
    /// changes) into the stored one. Returns the heads afterwards, once the
    /// bytes are durable; fails when the store could not write them.
    pub async fn merge(&self, visit: &str, bytes: Vec<u8>) -> Result<Vec<String>, LinkError> {
        let document_error = |e: automerge::AutomergeError| LinkError::Document {
            id: visit.to_owned(),
            reason: e.to_string(),
        };
        let doc = match self.document(visit).await? {
            // A new document must load whole on its own.
            None => automerge::Automerge::load(&bytes).map_err(document_error)?,
            Some(mut doc) => {
                doc.load_incremental(&bytes).map_err(document_error)?;
                doc
            }
        };
        self.store.put(chunk_key(visit, &bytes)?, bytes).await?;
        Ok(hex_heads(&doc))
    }

    /// Refuses new connections and waits until the open ones have stored
    /// what they received.
    pub async fn stop(&self) {
        self.running.stopping.store(true, Ordering::SeqCst);
        self.running.changed.notify_waiters();
        loop {
            let changed = self.running.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.running.open.lock().map(|open| *open == 0).unwrap_or(true) {
                return;
            }
            changed.await;
        }
    }
}

/// Resolves once nothing was received for `idle` since the time in `last`.
async fn idle_since(last: Arc<Mutex<tokio::time::Instant>>, idle: Duration) {
    loop {
        let at = *last.lock().unwrap_or_else(std::sync::PoisonError::into_inner) + idle;
        if tokio::time::Instant::now() >= at {
            return;
        }
        tokio::time::sleep_until(at).await;
    }
}

async fn run_connection(
    repo: &Repo,
    socket: WebSocket,
    peer: &str,
    limits: Limits,
    close: BoxFuture<'static, ()>,
) -> Result<(), LinkError> {
    let url = samod::Url::parse("posfield://sync").map_err(|e| LinkError::Unreachable(e.to_string()))?;
    let acceptor = repo.make_acceptor(url)?;
    let (sink, stream) = socket.split();
    let last_received = Arc::new(Mutex::new(tokio::time::Instant::now()));
    let received = last_received.clone();
    let deadline = tokio::time::sleep(limits.deadline);
    // The stream ends (and samod ends the connection) at the first of these.
    let ends = async move {
        tokio::select! {
            () = deadline => {}
            () = idle_since(last_received, limits.idle) => {}
            () = close => {}
        }
    };
    let max_bytes = limits.max_message_bytes;
    // Dropped with the stream, which samod drops when the connection ends.
    let (ended_tx, ended) = tokio::sync::oneshot::channel::<()>();
    let guard = EndSignal(Some(ended_tx));
    let stream = stream
        .take_until(ends)
        .take(limits.max_messages)
        .take_while(|m| ready(!matches!(m, Ok(Message::Close(_)))))
        .filter_map(move |m| {
            let _alive = &guard;
            *received.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = tokio::time::Instant::now();
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
    let _connection = acceptor.accept(transport)?;
    let _ = ended.await;
    acceptor.close();
    Ok(())
}

/// A document from its stored chunks (snapshots and changes, in any order),
/// or `None` when there are none.
fn load_chunks(
    visit: &str,
    chunks: Vec<(String, Vec<u8>)>,
) -> Result<Option<automerge::Automerge>, LinkError> {
    if chunks.is_empty() {
        return Ok(None);
    }
    let mut doc = automerge::Automerge::new();
    for (_, bytes) in chunks {
        doc.load_incremental(&bytes)
            .map_err(|e| LinkError::Document { id: visit.to_owned(), reason: e.to_string() })?;
    }
    Ok(Some(doc))
}
