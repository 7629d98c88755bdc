-- posfield-server's database, version 4: the versions each device last sent,
-- and renewed credentials waiting for their first use.

-- What the device last said it runs (NULL: it has not synced since the
-- server recorded versions). Written when it changes, with the time it did.
ALTER TABLE devices ADD COLUMN app_version TEXT;
ALTER TABLE devices ADD COLUMN schema_version INTEGER;
ALTER TABLE devices ADD COLUMN protocol INTEGER;
ALTER TABLE devices ADD COLUMN version_since INTEGER;

-- A renewed credential, stored only as its SHA-256. The device's own
-- credential stays valid until this one is first used; then this one
-- replaces it and the row goes. At most one per device: a renewal whose
-- answer never reached the phone is replaced by the next.
CREATE TABLE credential_renewals (
    device_id TEXT PRIMARY KEY NOT NULL REFERENCES devices (id),
    token_hash TEXT NOT NULL UNIQUE,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
