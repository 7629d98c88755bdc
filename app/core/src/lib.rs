//! The field agent's offline core: the `Agent` facade over the local store, blob store, terminal identification, document photos, signatures and the sync client.
