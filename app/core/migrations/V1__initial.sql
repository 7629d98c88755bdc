-- The agent's store, version 1. Never edit a released migration: add a new one.

-- One row per visit: the compacted automerge document and the list index,
-- updated in the same transaction as every change to the document.
CREATE TABLE visits (
    id TEXT PRIMARY KEY NOT NULL,
    doc BLOB NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    merchant TEXT NOT NULL,
    serial TEXT,
    assignee TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    -- 1 while the phone holds changes the server has not confirmed.
    unsynced INTEGER NOT NULL DEFAULT 1
) STRICT;
CREATE INDEX visits_by_updated ON visits (updated_at DESC, id);
CREATE INDEX visits_by_status ON visits (status, updated_at DESC);

-- Incremental saves appended after `visits.doc`, oldest first; folded into
-- `visits.doc` by compaction.
CREATE TABLE visit_increments (
    visit_id TEXT NOT NULL REFERENCES visits (id),
    seq INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (visit_id, seq)
) STRICT;

CREATE TABLE settings (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

-- Per-document sync bookkeeping for the sync client.
CREATE TABLE sync_docs (
    visit_id TEXT PRIMARY KEY NOT NULL REFERENCES visits (id),
    server_heads TEXT NOT NULL DEFAULT '',
    sync_state BLOB,
    last_synced_at INTEGER
) STRICT;

-- Content-addressed blobs (photos, signatures) and who refers to them.
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY NOT NULL,
    mime TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    width INTEGER NOT NULL DEFAULT 0,
    height INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    -- 0 on the phone only, 1 sent, 2 confirmed by the server.
    upload_state INTEGER NOT NULL DEFAULT 0,
    uploaded_bytes INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE blob_refs (
    sha256 TEXT NOT NULL REFERENCES blobs (sha256),
    visit_id TEXT NOT NULL,
    PRIMARY KEY (sha256, visit_id)
) STRICT;
