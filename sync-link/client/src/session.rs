//! One sync session of an agent: the server's changes to the documents that
//! differ from the phone's, pulled over one authenticated websocket, then
//! handed back as bytes.
//!
//! The session only pulls. The server shares each visit read-only (its
//! changes come, the phone's are ignored), and the phone's own changes go
//! up in a push, where the server checks them; so a visit's exchange ends
//! once the phone holds every change the server has, never waiting for the
//! server to take the phone's.
//!
//! The session's repository lives in memory and only for the session: the
//! agent's own store stays the one place its visits are kept, so a session
//! cut at any point loses nothing; the next one starts over from the store.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt, TryStreamExt, future::ready};
use samod::storage::InMemoryStorage;
use samod::{BackoffConfig, ConnectionId, DialError, Dialer, PeerId, Repo, ShareConfig, Transport};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest, http::HeaderValue};

use crate::chunks::seed;
use crate::tls::{CertificateProblem, Trust, certificate_problem, client_config};
use crate::{LinkError, hex_heads};

/// Where and as whom to sync.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The websocket URL (`ws://host:port/api/v1/sync/ws`).
    pub url: url::Url,
    /// The device credential, sent as a bearer token.
    pub token: String,
    /// This device's peer id, as the server knows it.
    pub peer: String,
    /// More headers for the upgrade request (the app's versions), name and value.
    pub headers: Vec<(String, String)>,
    /// How long to wait for the connection and handshake.
    pub connect_timeout: Duration,
}

/// A visit after syncing.
#[derive(Debug, Clone)]
pub struct Synced {
    /// The saved document, to merge into the local one; `None` when the
    /// session ended with the heads the caller already had (the server had
    /// nothing new), which spares saving and merging an unchanged document.
    pub bytes: Option<Vec<u8>>,
    /// Its heads, sorted hex.
    pub heads: Vec<String>,
}

/// The payload bytes of a session's websocket messages, both ways: the
/// phone counts the data its syncs use. The upgrade request, the frames'
/// headers and everything below the websocket are not in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketTraffic {
    /// Bytes of the messages sent.
    pub sent: u64,
    /// Bytes of the messages received.
    pub received: u64,
}

/// The running counts behind [`SocketTraffic`], shared with the dialer.
#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    received: AtomicU64,
}

/// Why a dial is not worth retrying.
#[derive(Debug, thiserror::Error)]
enum Refused {
    /// The server answered the upgrade with this HTTP status.
    #[error("HTTP {0}")]
    Status(u16),
    /// The server's certificate was refused.
    #[error("the server's certificate was refused: {0:?}")]
    Certificate(CertificateProblem),
}

struct WsDialer {
    endpoint: Endpoint,
    tls: Arc<rustls::ClientConfig>,
    counters: Arc<Counters>,
}

impl Dialer for WsDialer {
    type Error = Refused;

    fn url(&self) -> url::Url {
        self.endpoint.url.clone()
    }

    fn connect(&self) -> BoxFuture<'static, Result<Transport, DialError<Refused>>> {
        let endpoint = self.endpoint.clone();
        let connector = tokio_tungstenite::Connector::Rustls(self.tls.clone());
        let (counted_in, counted_out) = (self.counters.clone(), self.counters.clone());
        Box::pin(async move {
            let mut request =
                endpoint.url.as_str().into_client_request().map_err(DialError::<Refused>::transient)?;
            let bearer = HeaderValue::from_str(&format!("Bearer {}", endpoint.token))
                .map_err(DialError::<Refused>::transient)?;
            request.headers_mut().insert("authorization", bearer);
            for (name, value) in &endpoint.headers {
                let name = tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(DialError::<Refused>::transient)?;
                let value = HeaderValue::from_str(value).map_err(DialError::<Refused>::transient)?;
                request.headers_mut().insert(name, value);
            }
            let connected =
                tokio_tungstenite::connect_async_tls_with_config(request, None, false, Some(connector)).await;
            let (ws, _) = match connected {
                Ok(ok) => ok,
                Err(tungstenite::Error::Http(response)) => {
                    return Err(DialError::PermanentFailure(Refused::Status(response.status().as_u16())));
                }
                // A refused certificate is refused again on every retry.
                Err(e) => match certificate_problem(&e) {
                    Some(problem) => return Err(DialError::PermanentFailure(Refused::Certificate(problem))),
                    None => return Err(DialError::transient(e)),
                },
            };
            let (sink, stream) = ws.split();
            let stream = stream
                .try_take_while(|m| ready(Ok(!matches!(m, Message::Close(_)))))
                .try_filter_map(move |m| {
                    counted_in.received.fetch_add(m.len() as u64, Ordering::Relaxed);
                    ready(Ok(if let Message::Binary(b) = m { Some(b.to_vec()) } else { None }))
                });
            let sink = sink.with(move |b: Vec<u8>| {
                counted_out.sent.fetch_add(b.len() as u64, Ordering::Relaxed);
                ready(Ok::<_, tungstenite::Error>(Message::Binary(b.into())))
            });
            Ok(Transport::new(Box::pin(stream), Box::pin(sink)))
        })
    }
}

/// How many visits one session syncs at the same time: enough that the
/// round trips of a session overlap, few enough that a slow link still
/// finishes each within its deadline.
pub const CONCURRENT_VISITS: usize = 32;

/// A connected sync session.
pub struct Session {
    repo: Repo,
    dialer: samod::DialerHandle<Refused>,
    connection: ConnectionId,
    /// The repository's tasks, ended when the session goes.
    runtime: crate::runtime::Tracked,
    /// What the session's connections sent and received.
    counters: Arc<Counters>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.runtime.end();
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("connection", &self.connection).finish_non_exhaustive()
    }
}

impl Session {
    /// Connects, holding `docs` (visit id, saved bytes): the documents this
    /// agent has that differ from the server's. A `wss://` server is
    /// trusted by the platform's roots.
    pub async fn open(endpoint: &Endpoint, docs: Vec<(String, Vec<u8>)>) -> Result<Session, LinkError> {
        let tls = client_config(&Trust::Platform).map_err(|e| LinkError::Unreachable(e.to_string()))?;
        Session::open_with(endpoint, tls, docs).await
    }

    /// Connects as [`Session::open`] does, trusting a `wss://` server as
    /// `tls` says (built by [`crate::tls::client_config`]).
    pub async fn open_with(
        endpoint: &Endpoint,
        tls: Arc<rustls::ClientConfig>,
        docs: Vec<(String, Vec<u8>)>,
    ) -> Result<Session, LinkError> {
        let storage = InMemoryStorage::new();
        for (id, bytes) in docs {
            seed(&storage, &id, bytes).await?;
        }
        let runtime = crate::runtime::Tracked::current();
        let repo = Repo::build_tokio()
            .with_runtime(runtime.clone())
            .with_storage(storage)
            .with_peer_id(PeerId::from(endpoint.peer.as_str()))
            .with_share_policy(ShareConfig::read_write())
            .load()
            .await;
        // A few quick retries: the server may still be closing this device's
        // previous connection, and phone networks drop the first attempt often.
        let backoff = BackoffConfig {
            initial_delay: Duration::from_millis(150),
            max_delay: Duration::from_secs(2),
            max_retries: Some(3),
        };
        let counters = Arc::new(Counters::default());
        let dialer = repo.dial(
            backoff,
            Arc::new(WsDialer { endpoint: endpoint.clone(), tls, counters: counters.clone() }),
        )?;
        let established = tokio::time::timeout(endpoint.connect_timeout, dialer.established()).await;
        let failure = match established {
            Ok(Ok(_)) => None,
            Ok(Err(failed)) => Some(match &failed {
                samod::DialerFailed::PermanentFailure(refused) => match refused.as_ref() {
                    Refused::Status(status) => LinkError::Refused(*status),
                    Refused::Certificate(problem) => LinkError::Certificate(problem.clone()),
                },
                _ => LinkError::Unreachable(failed.to_string()),
            }),
            Err(_) => Some(LinkError::Deadline {
                what: "connecting to the sync server".into(),
                limit: endpoint.connect_timeout,
            }),
        };
        if let Some(error) = failure {
            dialer.close();
            repo.stop().await;
            runtime.end();
            return Err(error);
        }
        let Some(connection) = dialer.connection_id() else {
            repo.stop().await;
            runtime.end();
            return Err(LinkError::Lost("no connection".into()));
        };
        Ok(Session { repo, dialer, connection, runtime, counters })
    }

    /// Pulls one visit until this side holds every change the server has
    /// (the heads the server said it holds are all here), within
    /// `deadline`; what this side has that the server lacks stays for a
    /// push. A visit the server does not share and this side does not hold
    /// is [`LinkError::NotFound`]. `known_heads` (sorted hex) are the heads
    /// the caller holds: when the visit ends with exactly those, no bytes
    /// are returned.
    pub async fn sync(
        &self,
        visit: &str,
        known_heads: &[String],
        deadline: Duration,
    ) -> Result<Synced, LinkError> {
        self.sync_until(visit, known_heads, deadline, false).await
    }

    /// Syncs one visit as a session of protocol 2 and older did: until the
    /// server also holds this side's changes, which a read-only server
    /// never does. The app no longer calls it; the server's tests do, to
    /// check that a connection of an older phone still lets it finish.
    pub async fn sync_both_ways(
        &self,
        visit: &str,
        known_heads: &[String],
        deadline: Duration,
    ) -> Result<Synced, LinkError> {
        self.sync_until(visit, known_heads, deadline, true).await
    }

    async fn sync_until(
        &self,
        visit: &str,
        known_heads: &[String],
        deadline: Duration,
        both_ways: bool,
    ) -> Result<Synced, LinkError> {
        let doc = crate::doc_id(visit)?;
        let work = async {
            let handle = self.repo.find(doc).await?.ok_or_else(|| LinkError::NotFound(visit.to_owned()))?;
            // A pull does not wait for `they_have_our_changes`: a read-only
            // server never takes them.
            if both_ways {
                handle.they_have_our_changes(self.connection).await;
            }
            handle.we_have_their_changes(self.connection).await;
            Ok::<_, LinkError>(handle.with_document(|d| {
                let heads = hex_heads(d);
                let bytes = (heads != known_heads).then(|| d.save());
                Synced { bytes, heads }
            }))
        };
        // A cut connection ends the wait at once: the changes this session
        // waits for were promised on that connection, not on a redial.
        let lost = async {
            while self.is_connected() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::select! {
            outcome = tokio::time::timeout(deadline, work) => match outcome {
                Ok(result) => result,
                Err(_) if !self.is_connected() => Err(LinkError::Lost("the server closed the connection".into())),
                Err(_) => Err(LinkError::Deadline { what: format!("syncing visit {visit}"), limit: deadline }),
            },
            () = lost => Err(LinkError::Lost("the connection was cut".into())),
        }
    }

    /// Pulls many visits at once (at most [`CONCURRENT_VISITS`] in flight),
    /// each as [`Session::sync`] does, yielding each as it finishes.
    /// `visits` are (visit id, the caller's heads, sorted hex).
    pub fn sync_many(
        &self,
        visits: Vec<(String, Vec<String>)>,
        deadline: Duration,
    ) -> impl futures::Stream<Item = (String, Result<Synced, LinkError>)> + '_ {
        futures::stream::iter(visits)
            .map(move |(visit, known_heads)| async move {
                let result = self.sync(&visit, &known_heads, deadline).await;
                (visit, result)
            })
            .buffer_unordered(CONCURRENT_VISITS)
    }

    /// Waits, with the connection open, until the session's copy of
    /// `visit` (pulled before) has other heads than `known_heads` (sorted
    /// hex): the server sends the changes made after the pull to an open
    /// connection. The document and heads then, or [`LinkError::Deadline`].
    pub async fn changed(
        &self,
        visit: &str,
        known_heads: &[String],
        deadline: Duration,
    ) -> Result<Synced, LinkError> {
        let doc = crate::doc_id(visit)?;
        let handle = self.repo.find(doc).await?.ok_or_else(|| LinkError::NotFound(visit.to_owned()))?;
        let mut changes = Box::pin(handle.changes());
        let work = async {
            loop {
                let heads = handle.with_document(|d| hex_heads(d));
                if heads != known_heads {
                    let bytes = handle.with_document(|d| d.save());
                    return Synced { bytes: Some(bytes), heads };
                }
                if changes.next().await.is_none() {
                    return Synced { bytes: None, heads };
                }
            }
        };
        match tokio::time::timeout(deadline, work).await {
            Ok(synced) if synced.bytes.is_some() => Ok(synced),
            Ok(_) => Err(LinkError::Lost("the session ended".into())),
            Err(_) => {
                Err(LinkError::Deadline { what: format!("a change of visit {visit}"), limit: deadline })
            }
        }
    }

    /// Whether the session's connection is still up (a redial is another
    /// connection, and does not count).
    pub fn is_connected(&self) -> bool {
        self.dialer.is_connected() && self.dialer.connection_id() == Some(self.connection)
    }

    /// The payload bytes of the websocket messages sent and received so
    /// far, over every connection of the session (a redial's too).
    pub fn traffic(&self) -> SocketTraffic {
        SocketTraffic {
            sent: self.counters.sent.load(Ordering::Relaxed),
            received: self.counters.received.load(Ordering::Relaxed),
        }
    }

    /// Closes the connection and the session's repository.
    pub async fn close(self) {
        self.dialer.close();
        self.repo.stop().await;
    }
}
