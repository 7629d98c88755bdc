-- posfield-server's database, version 4: the versions each device last sent,
-- and renewed credentials waiting for their first use.

-- What the device last said it runs (NULL: it has not synced since the
-- server recorded versions). Written when it changes, with the time it did.
ALTER TABLE devices ADD COLUMN app_version TEXT;
ALTER TABLE devices ADD COLUMN schema_version INTEGER;
ALTER TABLE devices ADD COLUMN protocol INTEGER;
ALTER TABLE devices ADD COLUMN version_since INTEGER;

-- Renewed credentials, stored only as their SHA-256. The device's own
-- credential stays valid until one of them is first used; then that one
-- replaces it and the device's other renewals go. Several may wait at
-- once: a renewal whose answer never reached the phone must not replace
-- one the phone stored, since a delayed request can arrive after a later
-- one. The newest few are kept.
CREATE TABLE credential_renewals (
    token_hash TEXT PRIMARY KEY NOT NULL,
    device_id TEXT NOT NULL REFERENCES devices (id),
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX credential_renewals_by_device ON credential_renewals (device_id, issued_at);
