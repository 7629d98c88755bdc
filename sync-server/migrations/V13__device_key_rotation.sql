-- Version 13: rotating a phone's device key. An administrator asks (who and
-- when); the phone sends a new key vouched for by its current one, which
-- moves to device_earlier_keys: an acceptance it signed stays verifiable by
-- the key that made it. A countersignature records the key that verified it.
ALTER TABLE devices ADD COLUMN key_rotation_requested_at INTEGER;
ALTER TABLE devices ADD COLUMN key_rotation_requested_by TEXT;
CREATE TABLE device_earlier_keys (
    device_id   TEXT NOT NULL REFERENCES devices(id),
    public_key  TEXT NOT NULL,
    replaced_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, public_key)
);
ALTER TABLE countersignatures ADD COLUMN device_public_key TEXT;
