//! Where samod finds a document's chunks.
//!
//! samod stores each document as chunks under keys such as
//! `[doc id, "incremental", change hash]`. A saved document or changes put
//! in a store under [`storage_key`] are loaded by samod with the rest of the
//! document. The agent seeds its session's in-memory repository this way,
//! and the server stores pushed documents and its own edits the same way,
//! so the naming lives here, once, for both halves.

use samod::storage::{Storage, StorageKey};
use sha2::{Digest, Sha256};

/// Puts a saved document or changes into a store the way samod would find
/// them, under a key named by the bytes' hash (so two writers never replace
/// each other's chunk).
pub async fn seed(store: &impl Storage, visit_id: &str, bytes: Vec<u8>) -> Result<(), crate::LinkError> {
    let key = storage_key(visit_id, &bytes)?;
    store.put(key, bytes).await;
    Ok(())
}

/// The samod storage key of `bytes` (a saved document or changes of visit
/// `visit_id`), as [`seed`] stores them.
pub fn storage_key(visit_id: &str, bytes: &[u8]) -> Result<StorageKey, crate::LinkError> {
    let doc = crate::doc_id(visit_id)?;
    StorageKey::from_parts([doc.to_string(), "incremental".to_owned(), hex::encode(Sha256::digest(bytes))])
        .map_err(|_| crate::LinkError::BadId(visit_id.to_owned()))
}
