-- Version 7: what a sync brought from the back office, for the agent to
-- see: a new job, a returned visit with the reviewer's note, an application
-- decided, a job planned for another day or cancelled (crate::news). Written
-- in the transaction that stores the server's change.
CREATE TABLE news (
    id INTEGER PRIMARY KEY,
    visit_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    merchant TEXT NOT NULL,
    -- The reviewer's note, the rejection's reason, the new day: words from the desk.
    detail TEXT,
    -- When the phone received it (device time, ms since the epoch).
    at INTEGER NOT NULL,
    seen INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX news_unseen ON news (id) WHERE seen = 0;
