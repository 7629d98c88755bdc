-- Version 12: wiping a lost phone. An administrator asks (who and when);
-- the phone, at its next contact, sends its unsynced work, says it destroyed
-- its keys, and its credential is revoked then.
ALTER TABLE devices ADD COLUMN wipe_requested_at INTEGER;
ALTER TABLE devices ADD COLUMN wipe_requested_by TEXT;
ALTER TABLE devices ADD COLUMN wiped_at INTEGER;
