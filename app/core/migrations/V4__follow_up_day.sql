-- Version 4: the day a visit is back on the agent's list for its follow-up
-- check (schema 3's `follow_up.on`, YYYY-MM-DD). Rows stored before are
-- filled from their documents when this migration is applied (store.rs).
ALTER TABLE visits ADD COLUMN follow_up TEXT;
CREATE INDEX visits_by_follow_up ON visits (follow_up, updated_at DESC) WHERE follow_up IS NOT NULL;
