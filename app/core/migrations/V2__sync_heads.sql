-- Version 2: each visit's current heads beside its index row, so a sync can
-- build its manifest without loading every document. Empty until the next save
-- (the sync client fills it in on first use).
ALTER TABLE visits ADD COLUMN heads TEXT NOT NULL DEFAULT '';
