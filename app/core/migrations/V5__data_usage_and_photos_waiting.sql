-- Version 5: the data each visit's syncs used (crate::usage), and the visits
-- whose documents the server holds while their photos wait for Wi-Fi.

-- Bytes counted per visit over every sync; the row '' holds the requests
-- that serve every visit at once (the manifest, renewals). Not a foreign
-- key: '' is no visit, and the count outlives a visit leaving the phone.
CREATE TABLE data_usage (
    visit_id TEXT PRIMARY KEY NOT NULL,
    sent INTEGER NOT NULL DEFAULT 0,
    received INTEGER NOT NULL DEFAULT 0
) STRICT;

-- 1 when the server confirmed the visit's document at `server_heads` while
-- its photos were held for Wi-Fi: the visit stays unsynced until they are up.
ALTER TABLE sync_docs ADD COLUMN photos_wait INTEGER NOT NULL DEFAULT 0;
-- The status counts the visits waiting for photos at every look: only those
-- rows are read, not every visit's.
CREATE INDEX sync_docs_photos_wait ON sync_docs (visit_id) WHERE photos_wait = 1;
