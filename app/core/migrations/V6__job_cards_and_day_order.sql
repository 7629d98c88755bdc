-- Version 6: the agent's day. One small row per visit with what its card
-- shows and what a search looks in, kept in the transaction of every save
-- (store/cards.rs), so today's list and a search read this table alone and
-- never the pages that carry the documents. Rows stored before are filled
-- from their documents when this migration is applied.
CREATE TABLE visit_cards (
    id TEXT PRIMARY KEY NOT NULL REFERENCES visits (id),
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    merchant TEXT NOT NULL,
    merchant_number TEXT,
    phone TEXT,
    address TEXT,
    serial TEXT,
    -- schema 4's assignment.schedule: YYYY-MM-DD and HH:MM, Beijing time.
    planned_day TEXT,
    planned_from TEXT,
    planned_until TEXT,
    -- How far the agent got on the way (schema 4's trip): accepted, departed, arrived.
    trip TEXT,
    -- Where the phone was at this visit's arrival check-in (WGS-84,
    -- millionths of a degree): the merchant's place for later jobs there.
    arrived_lat_e6 INTEGER,
    arrived_lon_e6 INTEGER,
    updated_at INTEGER NOT NULL,
    unsynced INTEGER NOT NULL,
    -- What a search matches: the name, numbers, serials, phone and address,
    -- lower-cased, each on its own line.
    search TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX visit_cards_by_day ON visit_cards (planned_day) WHERE planned_day IS NOT NULL;
-- Today's list shows the newest open jobs without a day: read in order, not sorted.
CREATE INDEX visit_cards_unplanned ON visit_cards (updated_at DESC, id)
    WHERE planned_day IS NULL AND status IN ('draft', 'in_progress', 'returned');

-- A merchant's place: the latest arrival located there, by merchant number.
CREATE INDEX visit_cards_located ON visit_cards (merchant_number, updated_at DESC)
    WHERE arrived_lat_e6 IS NOT NULL AND merchant_number IS NOT NULL;

-- The order the agent put a day's jobs in; a job not in it follows, by its window.
CREATE TABLE day_order (
    day TEXT NOT NULL,
    visit_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (day, visit_id)
) STRICT, WITHOUT ROWID;

-- The visit list's covering indexes (version 3) lacked the follow-up day
-- version 4 added to the rows it returns: every listed row was then read
-- from the table's pages, which carry the documents. They hold it now.
DROP INDEX visits_list;
DROP INDEX visits_list_by_status;
CREATE INDEX visits_list ON visits (updated_at DESC, id, kind, status, merchant, serial, assignee, unsynced, follow_up);
CREATE INDEX visits_list_by_status ON visits (status, updated_at DESC, id, kind, merchant, serial, assignee, unsynced, follow_up);
