//! samod's storage over an asynchronous key/value store.
//!
//! samod stores each document as chunks under keys such as
//! `[doc id, "incremental", change hash]`. [`KvStore`] is the plain
//! interface the server's store implements; [`Adapter`] puts samod's
//! storage calls through to it.
//!
//! samod 0.16's [`Storage`] cannot report a failure: `put` returns nothing,
//! and once it returns samod counts the chunk as stored (after a compaction
//! it then deletes the chunks the new snapshot replaces). So the adapter
//! keeps the first failure of its repository: from then on it deletes
//! nothing (a chunk whose replacement was not stored stays), and
//! [`Adapter::failed`] lets the connection that owns the repository end at
//! once instead of going on as if the write had happened.
//!
//! The adapter also remembers which visits' chunks its repository wrote or
//! deleted ([`Adapter::written`]). A connection's repository stores nothing
//! a phone sent (it shares read-only), but samod saves again every document
//! it loads, and compacts it once it has many chunks: the connection's
//! owner projects those visits, so that nothing stored goes unprojected.
//! A [`Adapter::discarding`] adapter writes nothing at all, for a
//! connection whose repository holds a phone's changes in memory.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use posfield_sync_link_client::LinkError;
use posfield_sync_link_client::chunks::storage_key;
use posfield_sync_link_client::visit_id;
use samod::DocumentId;
use samod::storage::{Storage, StorageKey};

/// A write or read the store could not make.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("document storage failed: {0}")]
pub struct StorageError(pub String);

impl From<StorageError> for LinkError {
    fn from(e: StorageError) -> Self {
        LinkError::Storage(e.0)
    }
}

/// What a [`KvStore`] call resolves to.
pub type StorageFuture<T> = BoxFuture<'static, Result<T, StorageError>>;

/// A durable key/value store. Keys are `/`-joined (samod guarantees no part
/// contains a `/`). `put` and `delete` resolve only once the change is
/// durable, and to an error when it was not made.
pub trait KvStore: Send + Sync + 'static {
    /// The value under `key`.
    fn load(&self, key: String) -> StorageFuture<Option<Vec<u8>>>;
    /// Every key starting with `prefix` followed by `/`, and `prefix` itself.
    fn load_prefix(&self, prefix: String) -> StorageFuture<Vec<(String, Vec<u8>)>>;
    /// Stores `value` under `key`, replacing any value.
    fn put(&self, key: String, value: Vec<u8>) -> StorageFuture<()>;
    /// Removes `key`.
    fn delete(&self, key: String) -> StorageFuture<()>;
}

/// The first storage failure of one repository, and a wake-up for whoever
/// waits for it.
#[derive(Default)]
struct Failure {
    first: Mutex<Option<StorageError>>,
    raised: tokio::sync::Notify,
}

/// samod [`Storage`] over a [`KvStore`], for one repository.
#[derive(Clone)]
pub(crate) struct Adapter {
    store: Arc<dyn KvStore>,
    failure: Arc<Failure>,
    /// The visits whose chunks this repository wrote or deleted.
    written: Arc<Mutex<BTreeSet<String>>>,
    /// Whether puts and deletes are dropped instead of made.
    discard: bool,
}

impl Adapter {
    /// An adapter with no failure yet.
    pub(crate) fn new(store: Arc<dyn KvStore>) -> Adapter {
        Adapter { store, failure: Arc::default(), written: Arc::default(), discard: false }
    }

    /// An adapter that reads the store and never changes it: every put and
    /// delete is dropped. samod then believes a chunk stored that is not,
    /// which is harmless only because the repository goes with its
    /// connection and nothing else reads its memory.
    pub(crate) fn discarding(store: Arc<dyn KvStore>) -> Adapter {
        Adapter { discard: true, ..Adapter::new(store) }
    }

    /// The visits whose stored chunks this repository wrote or deleted (or
    /// tried to), by visit id.
    pub(crate) fn written(&self) -> BTreeSet<String> {
        self.written.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Records the visit whose chunk `key` names, before the store is asked
    /// to change it. samod's own keys (its storage id) name no visit.
    fn writing(&self, key: &StorageKey) {
        let visit =
            key.into_iter().next().and_then(|part| part.parse::<DocumentId>().ok()).map(|d| visit_id(&d));
        if let Some(visit) = visit.filter(|v| !v.is_empty()) {
            self.written.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(visit);
        }
    }

    fn raise(&self, what: &str, key: &str, error: StorageError) {
        tracing::error!(%key, %error, "{what} failed: the sync connection ends");
        let mut first = self.failure.first.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        first.get_or_insert(error);
        self.failure.raised.notify_waiters();
    }

    /// The first failure, if there was one.
    pub(crate) fn failure(&self) -> Option<StorageError> {
        self.failure.first.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Resolves with the first failure, once there is one.
    pub(crate) async fn failed(&self) -> StorageError {
        loop {
            let raised = self.failure.raised.notified();
            tokio::pin!(raised);
            raised.as_mut().enable();
            if let Some(error) = self.failure() {
                return error;
            }
            raised.await;
        }
    }
}

fn join(key: &StorageKey) -> String {
    key.into_iter().map(String::as_str).collect::<Vec<_>>().join("/")
}

fn split(key: &str) -> Option<StorageKey> {
    StorageKey::from_parts(key.split('/')).ok()
}

impl Storage for Adapter {
    async fn load(&self, key: StorageKey) -> Option<Vec<u8>> {
        let key = join(&key);
        match self.store.load(key.clone()).await {
            Ok(value) => value,
            Err(error) => {
                self.raise("loading a document chunk", &key, error);
                None
            }
        }
    }

    async fn load_range(&self, prefix: StorageKey) -> HashMap<StorageKey, Vec<u8>> {
        let prefix = join(&prefix);
        match self.store.load_prefix(prefix.clone()).await {
            Ok(chunks) => chunks.into_iter().filter_map(|(k, v)| Some((split(&k)?, v))).collect(),
            Err(error) => {
                self.raise("loading document chunks", &prefix, error);
                HashMap::new()
            }
        }
    }

    async fn put(&self, key: StorageKey, data: Vec<u8>) {
        if self.discard {
            return;
        }
        self.writing(&key);
        let key = join(&key);
        if let Err(error) = self.store.put(key.clone(), data).await {
            self.raise("storing a document chunk", &key, error);
        }
    }

    async fn delete(&self, key: StorageKey) {
        if self.discard {
            return;
        }
        self.writing(&key);
        let key = join(&key);
        // After a failed write samod may delete what an unstored snapshot
        // was to replace: keep everything instead.
        if self.failure().is_some() {
            tracing::warn!(%key, "a document chunk is kept: a write of this connection failed");
            return;
        }
        if let Err(error) = self.store.delete(key.clone()).await {
            self.raise("deleting a document chunk", &key, error);
        }
    }
}

/// The [`KvStore`] key under which `bytes` (a saved document or changes of
/// visit `visit_id`) are found by the server's repository, as
/// [`seed`](posfield_sync_link_client::chunks::seed) stores them: for a
/// caller that writes them itself, in its own transaction.
pub fn chunk_key(visit_id: &str, bytes: &[u8]) -> Result<String, crate::LinkError> {
    Ok(join(&storage_key(visit_id, bytes)?))
}
