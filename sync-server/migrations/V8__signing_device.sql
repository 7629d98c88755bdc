-- posfield-server's database, version 8: the device whose key each
-- acceptance was verified with. Never edit a released migration: add a new one.

-- The server's id of the device whose push (or sync connection) brought the
-- acceptance: its key, and only its key, verifies the device signature.
-- NULL for countersignatures made before, when the key was looked up by
-- the device id the phone chose at enrolment.
ALTER TABLE countersignatures ADD COLUMN signing_device TEXT;
