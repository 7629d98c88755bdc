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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use posfield_sync_link_client::LinkError;
use posfield_sync_link_client::chunks::storage_key;
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
}

impl Adapter {
    /// An adapter with no failure yet.
    pub(crate) fn new(store: Arc<dyn KvStore>) -> Adapter {
        Adapter { store, failure: Arc::default() }
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
        let key = join(&key);
        if let Err(error) = self.store.put(key.clone(), data).await {
            self.raise("storing a document chunk", &key, error);
        }
    }

    async fn delete(&self, key: StorageKey) {
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
