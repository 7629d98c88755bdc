-- posfield-server's database, version 9: the automerge actors each device
-- may write under. Never edit a released migration: add a new one.

-- Eight random bytes given to the device at enrolment: its phone writes
-- under this prefix and eight random bytes of each process's own. NULL for
-- devices enrolled before, whose actors are bound on first use below.
ALTER TABLE devices ADD COLUMN actor_prefix BLOB;
CREATE UNIQUE INDEX devices_by_actor_prefix ON devices (actor_prefix);

-- Actors not under the pushing device's prefix (a device enrolled before
-- prefixes, or edits made before enrolment), bound to the first device
-- whose push brought a change under them: no other device writes under
-- them from then on.
CREATE TABLE actor_bindings (
    actor BLOB PRIMARY KEY NOT NULL,
    device_id TEXT NOT NULL REFERENCES devices (id),
    bound_at INTEGER NOT NULL
) STRICT;
