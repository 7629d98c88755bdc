-- posfield-server's database, version 1. Never edit a released migration: add a new one.

CREATE TABLE agents (
    name TEXT PRIMARY KEY NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- One-time enrolment codes, stored hashed.
CREATE TABLE enrolment_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    agent TEXT NOT NULL REFERENCES agents (name),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
) STRICT;

-- Enrolled devices. The credential is stored only as its SHA-256.
CREATE TABLE devices (
    id TEXT PRIMARY KEY NOT NULL,
    agent TEXT NOT NULL REFERENCES agents (name),
    token_hash TEXT NOT NULL UNIQUE,
    -- The device id the phone stamps on its edits and signatures.
    client_device_id TEXT NOT NULL,
    name TEXT NOT NULL,
    -- Ed25519 public key (hex) that signs the merchant's acceptance.
    public_key TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX devices_by_client_id ON devices (client_device_id);

-- Back-office users; passwords hashed with argon2id.
CREATE TABLE users (
    name TEXT PRIMARY KEY NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('reviewer', 'admin')),
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- samod's document chunks (key: doc id / kind / hash).
CREATE TABLE doc_chunks (
    key TEXT PRIMARY KEY NOT NULL,
    data BLOB NOT NULL
) STRICT;

-- Projection of every visit document, kept up to date as documents arrive.
CREATE TABLE visits (
    id TEXT PRIMARY KEY NOT NULL,
    -- The agent whose device first sent the visit (or the assignee for office-created ones).
    owner TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    merchant TEXT NOT NULL,
    merchant_number TEXT,
    serial TEXT,
    assignee TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    -- Sorted hex heads, comma separated, of the document last projected.
    heads TEXT NOT NULL,
    -- JSON of the back-office fields the server trusts (authority::OfficeFields).
    office TEXT NOT NULL,
    -- Referenced blobs not yet received: the visit is incomplete while > 0.
    blobs_missing INTEGER NOT NULL DEFAULT 0,
    sim_iccid TEXT,
    sim_expiry TEXT
) STRICT;
CREATE INDEX visits_by_assignee ON visits (assignee, id);
CREATE INDEX visits_by_owner ON visits (owner, id);
CREATE INDEX visits_by_status ON visits (status, updated_at DESC);
CREATE INDEX visits_by_updated ON visits (updated_at DESC, id);

CREATE TABLE visit_blobs (
    visit_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (visit_id, sha256)
) STRICT;
CREATE INDEX visit_blobs_by_sha ON visit_blobs (sha256);

-- Blobs received whole and verified.
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY NOT NULL,
    bytes INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    uploaded_by TEXT NOT NULL
) STRICT;

CREATE TABLE terminals (
    serial TEXT PRIMARY KEY NOT NULL,
    merchant TEXT NOT NULL,
    sim_iccid TEXT,
    sim_carrier TEXT,
    sim_expiry TEXT,
    last_visit TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- What the server refused or restored, and security events.
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    visit_id TEXT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
) STRICT;
CREATE INDEX audit_by_visit ON audit (visit_id, id);

-- The server's countersignature of each acceptance it received.
CREATE TABLE countersignatures (
    visit_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    strokes_sha256 TEXT NOT NULL,
    image_sha256 TEXT NOT NULL,
    device_id TEXT NOT NULL,
    device_signature_valid INTEGER NOT NULL,
    server_signature TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (visit_id, content_hash)
) STRICT;

CREATE TABLE settings (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;
