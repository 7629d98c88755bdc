-- When the agent arrived and completed each visit (the phone's clock),
-- for the dashboard's time from arrival to completion; the visits'
-- creation day, for its visits per day. Rows projected before stay empty
-- until their visit changes.
ALTER TABLE visits ADD COLUMN arrived_at BIGINT, ADD COLUMN completed_at BIGINT;
CREATE INDEX visits_by_created ON visits (created_at);
CREATE INDEX visits_by_completed ON visits (completed_at) WHERE completed_at IS NOT NULL;
-- The terminal the desk dispatched a visit for, until the agent identifies
-- one (then `serial`): what an alert's row already became. Apart from
-- `serial`, so a dispatched repair counts towards no repeat fault.
ALTER TABLE visits ADD COLUMN dispatched_serial TEXT COLLATE "C";
CREATE INDEX visits_by_dispatched_serial ON visits (dispatched_serial) WHERE dispatched_serial IS NOT NULL;
