-- The back office's sign-in sessions, kept across restarts. Never edit a released migration: add a new one.

-- The session token is stored only as its SHA-256: a copy of the database
-- opens no session. The role is not copied here: a session reads its
-- user's role, and changing the role or password ends the user's sessions.
CREATE TABLE office_sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    -- The token the session's POST forms carry.
    csrf TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL
) STRICT;
CREATE INDEX office_sessions_by_user ON office_sessions (user_name, last_used_at);
