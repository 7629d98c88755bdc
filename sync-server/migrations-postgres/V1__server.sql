-- posfield-server's database on PostgreSQL, version 1: the whole schema the
-- SQLite engine reaches with its migrations V1 to V16, in PostgreSQL's
-- types. Never edit a released migration: add a new one.
--
-- Every text column compares and sorts bytewise (COLLATE "C"), as SQLite
-- does: keys are paged and found by prefix in that order whatever locale
-- the database was created with.

CREATE TABLE agents (
    name TEXT COLLATE "C" PRIMARY KEY,
    created_at BIGINT NOT NULL
);

-- One-time enrolment codes, stored hashed.
CREATE TABLE enrolment_codes (
    code_hash TEXT COLLATE "C" PRIMARY KEY,
    agent TEXT COLLATE "C" NOT NULL REFERENCES agents (name),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

-- Enrolled devices. The credential is stored only as its SHA-256.
CREATE TABLE devices (
    id TEXT COLLATE "C" PRIMARY KEY,
    agent TEXT COLLATE "C" NOT NULL REFERENCES agents (name),
    token_hash TEXT COLLATE "C" NOT NULL UNIQUE,
    -- The device id the phone stamps on its edits and signatures.
    client_device_id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    -- Ed25519 public key (hex) that signs the merchant's acceptance.
    public_key TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    -- What the device last said it runs (NULL: it has not said), and since when.
    app_version TEXT COLLATE "C",
    schema_version BIGINT,
    protocol BIGINT,
    version_since BIGINT,
    -- Eight random bytes given at enrolment: the start of every actor the
    -- device writes under.
    actor_prefix BYTEA,
    -- Wiping a lost phone: who asked and when, and when the phone said it did.
    wipe_requested_at BIGINT,
    wipe_requested_by TEXT COLLATE "C",
    wiped_at BIGINT,
    -- Rotating the device key: who asked and when, until the phone does.
    key_rotation_requested_at BIGINT,
    key_rotation_requested_by TEXT COLLATE "C"
);
CREATE INDEX devices_by_client_id ON devices (client_device_id);
CREATE UNIQUE INDEX devices_by_actor_prefix ON devices (actor_prefix);

-- Renewed credentials, stored only as their SHA-256, waiting for their first use.
CREATE TABLE credential_renewals (
    token_hash TEXT COLLATE "C" PRIMARY KEY,
    device_id TEXT COLLATE "C" NOT NULL REFERENCES devices (id),
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX credential_renewals_by_device ON credential_renewals (device_id, issued_at);

-- The keys rotations replaced: an acceptance signed before stays verifiable.
CREATE TABLE device_earlier_keys (
    id BIGINT GENERATED ALWAYS AS IDENTITY,
    device_id TEXT COLLATE "C" NOT NULL REFERENCES devices (id),
    public_key TEXT COLLATE "C" NOT NULL,
    replaced_at BIGINT NOT NULL,
    PRIMARY KEY (device_id, public_key)
);

-- Actors bound to the first device whose push brought a change under them.
CREATE TABLE actor_bindings (
    actor BYTEA PRIMARY KEY,
    device_id TEXT COLLATE "C" NOT NULL REFERENCES devices (id),
    bound_at BIGINT NOT NULL
);

-- Back-office users; passwords hashed with argon2id.
CREATE TABLE users (
    name TEXT COLLATE "C" PRIMARY KEY,
    role TEXT COLLATE "C" NOT NULL CHECK (role IN ('reviewer', 'admin')),
    password_hash TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL
);

-- The back office's sign-in sessions; the token only as its SHA-256.
CREATE TABLE office_sessions (
    token_hash TEXT COLLATE "C" PRIMARY KEY,
    user_name TEXT COLLATE "C" NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    -- The token the session's POST forms carry.
    csrf TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL
);
CREATE INDEX office_sessions_by_user ON office_sessions (user_name, last_used_at);

-- samod's document chunks (key: doc id / kind / hash).
CREATE TABLE doc_chunks (
    key TEXT COLLATE "C" PRIMARY KEY,
    data BYTEA NOT NULL
);

-- Chunks set aside as damaged: moved here, never deleted.
CREATE TABLE quarantined_chunks (
    key TEXT COLLATE "C" PRIMARY KEY,
    visit_id TEXT COLLATE "C" NOT NULL,
    data BYTEA NOT NULL,
    reason TEXT COLLATE "C" NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX quarantined_chunks_by_visit ON quarantined_chunks (visit_id);

-- Projection of every visit document, kept up to date as documents arrive.
CREATE TABLE visits (
    id TEXT COLLATE "C" PRIMARY KEY,
    -- The agent whose device first sent the visit (or the assignee for office-created ones).
    owner TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    status TEXT COLLATE "C" NOT NULL,
    merchant TEXT COLLATE "C" NOT NULL,
    merchant_number TEXT COLLATE "C",
    serial TEXT COLLATE "C",
    assignee TEXT COLLATE "C" NOT NULL,
    created_by TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- Sorted hex heads, comma separated, of the document last projected.
    heads TEXT COLLATE "C" NOT NULL,
    -- JSON of the back-office fields the server trusts, as written (text:
    -- the projection compares it with the next one).
    office TEXT COLLATE "C" NOT NULL,
    -- Referenced blobs not yet received: the visit is incomplete while > 0.
    blobs_missing BIGINT NOT NULL DEFAULT 0,
    sim_iccid TEXT COLLATE "C",
    sim_expiry TEXT COLLATE "C",
    -- The merchant's registered phone; '' for a visit without one.
    merchant_phone TEXT COLLATE "C"
);
CREATE INDEX visits_by_assignee ON visits (assignee, id);
CREATE INDEX visits_by_owner ON visits (owner, id);
CREATE INDEX visits_by_updated ON visits (updated_at DESC, id);
-- The visit list's filters, each ordered like the list (newest change first).
CREATE INDEX visits_by_status_updated ON visits (status, updated_at DESC, id);
CREATE INDEX visits_by_kind_updated ON visits (kind, updated_at DESC, id);
CREATE INDEX visits_by_assignee_updated ON visits (assignee, updated_at DESC, id);
CREATE INDEX visits_by_serial_updated ON visits (serial, updated_at DESC, id);
-- Alerts: repairs per terminal, visits waiting for photos, reactivation applications waiting.
CREATE INDEX visits_repairs_by_serial ON visits (serial, updated_at) WHERE kind = 'repair';
CREATE INDEX visits_missing_blobs ON visits (updated_at DESC, id) WHERE blobs_missing > 0;
CREATE INDEX visits_waiting_applications ON visits (updated_at DESC, id)
    WHERE kind = 'reactivation' AND (office::jsonb #>> '{application,state}') = 'submitted';

-- Visit ids an agent claimed whose documents are not projected yet: shared
-- by every server node, dropped in the transaction that projects the visit.
CREATE TABLE visit_claims (
    visit_id TEXT COLLATE "C" PRIMARY KEY,
    agent TEXT COLLATE "C" NOT NULL,
    claimed_at BIGINT NOT NULL
);

CREATE TABLE visit_blobs (
    visit_id TEXT COLLATE "C" NOT NULL,
    sha256 TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (visit_id, sha256)
);
CREATE INDEX visit_blobs_by_sha ON visit_blobs (sha256);

-- Blobs received whole and verified.
CREATE TABLE blobs (
    sha256 TEXT COLLATE "C" PRIMARY KEY,
    bytes BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    uploaded_by TEXT COLLATE "C" NOT NULL
);

-- Every agent that uploaded a blob whole.
CREATE TABLE blob_uploads (
    sha256 TEXT COLLATE "C" NOT NULL,
    agent TEXT COLLATE "C" NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (sha256, agent)
);

-- What agents captured of each terminal on site.
CREATE TABLE terminals (
    serial TEXT COLLATE "C" PRIMARY KEY,
    merchant TEXT COLLATE "C" NOT NULL,
    sim_iccid TEXT COLLATE "C",
    sim_carrier TEXT COLLATE "C",
    sim_expiry TEXT COLLATE "C",
    last_visit TEXT COLLATE "C" NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX terminals_by_sim_expiry ON terminals (sim_expiry);

-- What the server refused or restored, and security events.
CREATE TABLE audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    visit_id TEXT COLLATE "C",
    actor TEXT COLLATE "C" NOT NULL,
    action TEXT COLLATE "C" NOT NULL,
    detail TEXT COLLATE "C" NOT NULL
);
CREATE INDEX audit_by_visit ON audit (visit_id, id);

-- The server's countersignature of each acceptance it received; the newest
-- of a visit is the one with the highest id.
CREATE TABLE countersignatures (
    id BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    visit_id TEXT COLLATE "C" NOT NULL,
    content_hash TEXT COLLATE "C" NOT NULL,
    strokes_sha256 TEXT COLLATE "C" NOT NULL,
    image_sha256 TEXT COLLATE "C" NOT NULL,
    device_id TEXT COLLATE "C" NOT NULL,
    device_signature_valid BOOLEAN NOT NULL,
    server_signature TEXT COLLATE "C" NOT NULL,
    received_at BIGINT NOT NULL,
    -- The server's id of the device whose push brought the acceptance.
    signing_device TEXT COLLATE "C",
    -- The server key that made it (hex).
    server_public_key TEXT COLLATE "C",
    -- The device key that verified it (hex).
    device_public_key TEXT COLLATE "C",
    PRIMARY KEY (visit_id, content_hash)
);

CREATE TABLE settings (
    key TEXT COLLATE "C" PRIMARY KEY,
    value TEXT COLLATE "C" NOT NULL
);

-- Terminals as the back office registers them (CSV import, approved visits).
CREATE TABLE terminal_register (
    serial TEXT COLLATE "C" PRIMARY KEY,
    model TEXT COLLATE "C",
    manufacturer TEXT COLLATE "C",
    merchant TEXT COLLATE "C",
    merchant_number TEXT COLLATE "C",
    -- TerminalState code (in_stock, installed, suspended, ...).
    state TEXT COLLATE "C" NOT NULL,
    -- YYYY-MM-DD.
    production_date TEXT COLLATE "C",
    warranty_end TEXT COLLATE "C",
    sim_iccid TEXT COLLATE "C",
    sim_carrier TEXT COLLATE "C",
    sim_expiry TEXT COLLATE "C",
    imported_at BIGINT NOT NULL,
    in_service_since TEXT COLLATE "C",
    last_inspected TEXT COLLATE "C",
    sim_shared_plan BOOLEAN NOT NULL DEFAULT FALSE,
    -- When the row last changed, by what: `import`, `check_in` or `visit:<id>`.
    changed_by TEXT COLLATE "C" NOT NULL DEFAULT 'import',
    -- Who holds the terminal now, and since when.
    holder_kind TEXT COLLATE "C",
    holder_name TEXT COLLATE "C" NOT NULL DEFAULT '',
    held_since BIGINT,
    promised_back TEXT COLLATE "C"
);
CREATE INDEX terminal_register_by_production ON terminal_register (production_date);
CREATE INDEX terminal_register_by_warranty ON terminal_register (warranty_end);
CREATE INDEX terminal_register_by_sim_expiry ON terminal_register (sim_expiry);
CREATE INDEX terminal_register_by_inspection
    ON terminal_register ((COALESCE(last_inspected, in_service_since, production_date)))
    WHERE state = 'installed';
CREATE INDEX terminal_register_by_holder ON terminal_register (holder_kind, held_since);

-- Decisions whose effects on the register were written, once per visit and cause.
CREATE TABLE register_effects (
    visit_id TEXT COLLATE "C" NOT NULL,
    cause TEXT COLLATE "C" NOT NULL,
    applied_at BIGINT NOT NULL,
    actor TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (visit_id, cause)
);

-- Each change of a terminal in the register, with what caused it.
CREATE TABLE terminal_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    serial TEXT COLLATE "C" NOT NULL,
    visit_id TEXT COLLATE "C" NOT NULL,
    cause TEXT COLLATE "C" NOT NULL,
    -- A TerminalEvent code; NULL for a change of facts alone.
    event TEXT COLLATE "C",
    from_state TEXT COLLATE "C",
    to_state TEXT COLLATE "C" NOT NULL,
    detail TEXT COLLATE "C" NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT COLLATE "C" NOT NULL
);
CREATE INDEX terminal_events_by_serial ON terminal_events (serial, id);

-- The chain of custody: each hand-over of a terminal.
CREATE TABLE custody_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    serial TEXT COLLATE "C" NOT NULL,
    -- merchant, agent, warehouse or repair_centre; NULL: not known before.
    from_kind TEXT COLLATE "C",
    from_name TEXT COLLATE "C" NOT NULL DEFAULT '',
    to_kind TEXT COLLATE "C" NOT NULL,
    to_name TEXT COLLATE "C" NOT NULL DEFAULT '',
    at BIGINT NOT NULL,
    place TEXT COLLATE "C" NOT NULL DEFAULT '',
    condition TEXT COLLATE "C" NOT NULL DEFAULT '',
    seal TEXT COLLATE "C" NOT NULL DEFAULT '',
    photo TEXT COLLATE "C",
    visit_id TEXT COLLATE "C",
    confirmed_by TEXT COLLATE "C" NOT NULL,
    -- YYYY-MM-DD: when a repair centre promised it back.
    promised_back TEXT COLLATE "C",
    recorded_at BIGINT NOT NULL
);
CREATE INDEX custody_by_serial ON custody_events (serial, id);

-- What the merchant must be told, once per idempotency key.
CREATE TABLE outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key TEXT COLLATE "C" NOT NULL UNIQUE,
    event TEXT COLLATE "C" NOT NULL,
    visit_id TEXT COLLATE "C" NOT NULL,
    recipient TEXT COLLATE "C",
    payload TEXT COLLATE "C" NOT NULL,
    state TEXT COLLATE "C" NOT NULL
        CHECK (state IN ('pending', 'sending', 'delivered', 'failed', 'no_recipient')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT COLLATE "C",
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
-- The worker's question: which messages are due.
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);

-- Every terminal the back office knows: registered ones with what visits
-- recorded about them, then terminals only visits know.
CREATE VIEW fleet AS
SELECT r.serial AS serial,
       CASE WHEN r.changed_by = 'import' THEN COALESCE(r.merchant, t.merchant) ELSE r.merchant END AS merchant,
       r.merchant_number AS merchant_number,
       r.model AS model,
       r.manufacturer AS manufacturer,
       r.state AS state,
       r.production_date AS production_date,
       r.warranty_end AS warranty_end,
       CASE WHEN r.changed_by = 'import' THEN COALESCE(t.sim_iccid, r.sim_iccid) ELSE r.sim_iccid END AS sim_iccid,
       CASE WHEN r.changed_by = 'import' THEN COALESCE(t.sim_carrier, r.sim_carrier) ELSE r.sim_carrier END
           AS sim_carrier,
       CASE WHEN r.changed_by = 'import' THEN COALESCE(t.sim_expiry, r.sim_expiry) ELSE r.sim_expiry END
           AS sim_expiry,
       t.last_visit AS last_visit
FROM terminal_register r LEFT JOIN terminals t ON t.serial = r.serial
UNION ALL
SELECT t.serial, t.merchant, NULL, NULL, NULL, NULL, NULL, NULL, t.sim_iccid, t.sim_carrier, t.sim_expiry, t.last_visit
FROM terminals t
WHERE NOT EXISTS (SELECT 1 FROM terminal_register r WHERE r.serial = t.serial);
