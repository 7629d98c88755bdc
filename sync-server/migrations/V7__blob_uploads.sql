-- Every agent that uploaded a blob whole (the first one is also in
-- blobs.uploaded_by): a blob's status answers only them and the agents
-- whose visits refer to it.
CREATE TABLE blob_uploads (
    sha256 TEXT NOT NULL,
    agent TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (sha256, agent)
) STRICT;
INSERT INTO blob_uploads (sha256, agent, received_at) SELECT sha256, uploaded_by, received_at FROM blobs;
