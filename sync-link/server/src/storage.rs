//! samod's storage over a synchronous key/value store.
//!
//! samod stores each document as chunks under keys such as
//! `[doc id, "incremental", change hash]`. [`KvStore`] is the plain,
//! blocking interface the server's SQLite database implements; [`Adapter`]
//! runs it on tokio's blocking pool so a slow disk never stalls the sync
//! loop.

use std::collections::HashMap;
use std::sync::Arc;

use posfield_sync_link_client::chunks::storage_key;
use samod::storage::{Storage, StorageKey};

/// A durable key/value store. Keys are `/`-joined (samod guarantees no part
/// contains a `/`). `put` returns only once the value is durable.
pub trait KvStore: Send + Sync + 'static {
    /// The value under `key`.
    fn load(&self, key: &str) -> Option<Vec<u8>>;
    /// Every key starting with `prefix` followed by `/`, and `prefix` itself.
    fn load_prefix(&self, prefix: &str) -> Vec<(String, Vec<u8>)>;
    /// Stores `value` under `key`, replacing any value.
    fn put(&self, key: &str, value: &[u8]);
    /// Removes `key`.
    fn delete(&self, key: &str);
}

/// samod [`Storage`] over a [`KvStore`].
#[derive(Clone)]
pub(crate) struct Adapter(pub(crate) Arc<dyn KvStore>);

fn join(key: &StorageKey) -> String {
    key.into_iter().map(String::as_str).collect::<Vec<_>>().join("/")
}

fn split(key: &str) -> Option<StorageKey> {
    StorageKey::from_parts(key.split('/')).ok()
}

impl Storage for Adapter {
    async fn load(&self, key: StorageKey) -> Option<Vec<u8>> {
        let store = self.0.clone();
        tokio::task::spawn_blocking(move || store.load(&join(&key))).await.ok().flatten()
    }

    async fn load_range(&self, prefix: StorageKey) -> HashMap<StorageKey, Vec<u8>> {
        let store = self.0.clone();
        tokio::task::spawn_blocking(move || {
            store.load_prefix(&join(&prefix)).into_iter().filter_map(|(k, v)| Some((split(&k)?, v))).collect()
        })
        .await
        .unwrap_or_default()
    }

    async fn put(&self, key: StorageKey, data: Vec<u8>) {
        let store = self.0.clone();
        let _ = tokio::task::spawn_blocking(move || store.put(&join(&key), &data)).await;
    }

    async fn delete(&self, key: StorageKey) {
        let store = self.0.clone();
        let _ = tokio::task::spawn_blocking(move || store.delete(&join(&key))).await;
    }
}

/// The [`KvStore`] key under which `bytes` (a saved document or changes of
/// visit `visit_id`) are found by the server's repository, as
/// [`seed`](posfield_sync_link_client::chunks::seed) stores them: for a
/// caller that writes them itself, in its own transaction.
pub fn chunk_key(visit_id: &str, bytes: &[u8]) -> Result<String, crate::LinkError> {
    Ok(join(&storage_key(visit_id, bytes)?))
}
