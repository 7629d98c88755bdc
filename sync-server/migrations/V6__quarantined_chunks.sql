-- posfield-server's database, version 6: document chunks set aside.

-- Chunks of a visit document that no longer load strictly (bytes that are
-- not automerge, or changes waiting on changes the document lacks, stored
-- before pushes were checked whole). They are moved here, never deleted,
-- so the visit loads again from its last good state and what broke it can
-- still be examined; the audit table says when and why.
CREATE TABLE quarantined_chunks (
    key TEXT PRIMARY KEY NOT NULL,
    visit_id TEXT NOT NULL,
    data BLOB NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL
) STRICT;

CREATE INDEX quarantined_chunks_by_visit ON quarantined_chunks (visit_id);
