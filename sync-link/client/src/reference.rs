//! A client of a plain automerge-repo sync server, for comparing Posfield's
//! sync with the reference deployment on the same documents.
//!
//! The reference (the JavaScript `automerge-repo-sync-server` and servers set
//! up like it) has no credentials, no manifest and no blob channel: a client
//! connects a websocket, announces every document it holds and runs
//! automerge's sync protocol on each. [`ReferenceClient`] does exactly that
//! with samod, the way a JavaScript automerge-repo client would, so that the
//! sync load benchmark can drive both servers with the same documents without
//! naming samod outside this crate.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt, TryStreamExt, future::ready};
use samod::storage::InMemoryStorage;
use samod::{BackoffConfig, DialError, Dialer, PeerId, Repo, ShareConfig, Transport};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::LinkError;
use crate::chunks::seed;

/// The automerge-repo document id of a visit, as automerge-repo writes it
/// (bs58check of the UUID bytes): the name under which a reference server
/// stores the document.
pub fn automerge_repo_id(visit_id: &str) -> Result<String, LinkError> {
    Ok(crate::doc_id(visit_id)?.to_string())
}

/// A dialer for a websocket URL with no credential.
struct PlainWsDialer(url::Url);

#[derive(Debug, thiserror::Error)]
#[error("the reference server refused the websocket (HTTP {0})")]
struct PlainRefused(u16);

impl Dialer for PlainWsDialer {
    type Error = PlainRefused;

    fn url(&self) -> url::Url {
        self.0.clone()
    }

    fn connect(&self) -> BoxFuture<'static, Result<Transport, DialError<PlainRefused>>> {
        let url = self.0.clone();
        Box::pin(async move {
            let (ws, _) = match tokio_tungstenite::connect_async(url.as_str()).await {
                Ok(ok) => ok,
                Err(tungstenite::Error::Http(response)) => {
                    return Err(DialError::PermanentFailure(PlainRefused(response.status().as_u16())));
                }
                Err(e) => return Err(DialError::transient(e)),
            };
            let (sink, stream) = ws.split();
            let stream =
                stream.try_take_while(|m| ready(Ok(!matches!(m, Message::Close(_))))).try_filter_map(|m| {
                    ready(Ok(if let Message::Binary(b) = m { Some(b.to_vec()) } else { None }))
                });
            let sink = sink.with(|b: Vec<u8>| ready(Ok::<_, tungstenite::Error>(Message::Binary(b.into()))));
            Ok(Transport::new(Box::pin(stream), Box::pin(sink)))
        })
    }
}

/// One client of a reference server: a name and the documents it holds,
/// kept in memory across sessions as a client keeps its storage.
///
/// Each session is a new repository over the same storage, as when an app
/// starts again: it keeps its storage id (so the server finds the sync
/// state it saved for it) and gets a new peer id, as a JavaScript
/// automerge-repo does by default each time it starts.
#[derive(Clone)]
pub struct ReferenceClient {
    storage: InMemoryStorage,
    peer: String,
    visits: Vec<String>,
    sessions: Arc<AtomicUsize>,
}

impl std::fmt::Debug for ReferenceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceClient")
            .field("peer", &self.peer)
            .field("documents", &self.visits.len())
            .finish_non_exhaustive()
    }
}

impl ReferenceClient {
    /// A client named `peer` holding `docs` (visit id, saved document bytes).
    pub async fn new(peer: &str, docs: Vec<(String, Vec<u8>)>) -> Result<ReferenceClient, LinkError> {
        let storage = InMemoryStorage::new();
        let mut visits = Vec::with_capacity(docs.len());
        for (id, bytes) in docs {
            automerge::Automerge::load(&bytes)
                .map_err(|e| LinkError::Document { id: id.clone(), reason: e.to_string() })?;
            seed(&storage, &id, bytes).await?;
            visits.push(id);
        }
        Ok(ReferenceClient { storage, peer: peer.to_owned(), visits, sessions: Arc::default() })
    }

    /// The visits this client holds.
    pub fn visits(&self) -> &[String] {
        &self.visits
    }

    /// Connects to the server at `url` (`ws://host:port`), syncs every
    /// document this client holds until the server has all of its changes,
    /// and disconnects. `deadline` bounds the whole session after the
    /// connection is up.
    pub async fn sync_all(
        &self,
        url: &url::Url,
        connect_timeout: Duration,
        deadline: Duration,
    ) -> Result<(), LinkError> {
        let session = self.sessions.fetch_add(1, Ordering::Relaxed) + 1;
        let runtime = crate::runtime::Tracked::current();
        let repo = Repo::build_tokio()
            .with_runtime(runtime.clone())
            .with_storage(self.storage.clone())
            .with_peer_id(PeerId::from(format!("{}-{session}", self.peer)))
            .with_share_policy(ShareConfig::read_write())
            .load()
            .await;
        let backoff = BackoffConfig {
            initial_delay: Duration::from_millis(150),
            max_delay: Duration::from_secs(2),
            max_retries: Some(3),
        };
        let dialer = repo.dial(backoff, Arc::new(PlainWsDialer(url.clone())))?;
        let result = async {
            match tokio::time::timeout(connect_timeout, dialer.established()).await {
                Ok(Ok(_)) => {}
                Ok(Err(failed)) => return Err(LinkError::Unreachable(failed.to_string())),
                Err(_) => {
                    return Err(LinkError::Deadline {
                        what: "connecting to the reference server".into(),
                        limit: connect_timeout,
                    });
                }
            }
            let connection = dialer.connection_id().ok_or_else(|| LinkError::Lost("no connection".into()))?;
            let pushes = self.visits.iter().map(|visit| {
                let repo = &repo;
                async move {
                    let doc = crate::doc_id(visit)?;
                    let handle = repo.find(doc).await?.ok_or_else(|| LinkError::NotFound(visit.clone()))?;
                    handle.they_have_our_changes(connection).await;
                    Ok::<_, LinkError>(())
                }
            });
            match tokio::time::timeout(deadline, futures::future::try_join_all(pushes)).await {
                Ok(done) => done.map(|_| ()),
                Err(_) if !dialer.is_connected() => {
                    Err(LinkError::Lost("the reference server closed the connection".into()))
                }
                Err(_) => Err(LinkError::Deadline {
                    what: format!("syncing {} documents with the reference server", self.visits.len()),
                    limit: deadline,
                }),
            }
        }
        .await;
        dialer.close();
        repo.stop().await;
        runtime.end();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_visit_has_the_document_id_automerge_repo_writes() {
        let visit = "01a207b7-e9e1-7141-abf3-6a5ab3c38fc6";
        let written = automerge_repo_id(visit).unwrap();
        // bs58check of the 16 UUID bytes: no 0, O, I or l, and it reads back.
        assert!(written.chars().all(|c| c.is_ascii_alphanumeric() && !"0OIl".contains(c)), "{written}");
        let parsed: samod::DocumentId = written.parse().unwrap();
        assert_eq!(crate::visit_id(&parsed), visit);
        assert!(matches!(automerge_repo_id("visit-1"), Err(LinkError::BadId(_))));
    }

    #[tokio::test]
    async fn a_client_refuses_bytes_that_are_not_a_document() {
        let visit = "01a207b7-e9e1-7141-abf3-6a5ab3c38fc6".to_owned();
        let error = ReferenceClient::new("peer", vec![(visit, b"not automerge".to_vec())]).await.unwrap_err();
        assert!(matches!(error, LinkError::Document { .. }), "{error}");
        let good = automerge::Automerge::new().save();
        let client =
            ReferenceClient::new("peer", vec![("01a207b7-e9e1-7141-abf3-6a5ab3c38fc6".into(), good)])
                .await
                .unwrap();
        assert_eq!(client.visits(), ["01a207b7-e9e1-7141-abf3-6a5ab3c38fc6"]);
    }
}
