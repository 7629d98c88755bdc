-- Version 16: the chain of custody of every physical terminal. Each
-- hand-over is a row: who gave, who received, when (the device's time for a
-- visit, the server's for a check-in), where, in what condition, under which
-- seal or bag number, with a photo when one was taken, and what confirms it
-- (the merchant's signed acceptance, or the office user who checked it in).
-- The register keeps who holds each terminal now and since when.
CREATE TABLE custody_events (
    id            INTEGER PRIMARY KEY,
    serial        TEXT NOT NULL,
    -- merchant, agent, warehouse or repair_centre; NULL: not known before.
    from_kind     TEXT,
    from_name     TEXT NOT NULL DEFAULT '',
    to_kind       TEXT NOT NULL,
    to_name       TEXT NOT NULL DEFAULT '',
    at            INTEGER NOT NULL,
    place         TEXT NOT NULL DEFAULT '',
    condition     TEXT NOT NULL DEFAULT '',
    seal          TEXT NOT NULL DEFAULT '',
    photo         TEXT,
    visit_id      TEXT,
    confirmed_by  TEXT NOT NULL,
    -- YYYY-MM-DD: when a repair centre promised it back.
    promised_back TEXT,
    recorded_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX custody_by_serial ON custody_events (serial, id);

ALTER TABLE terminal_register ADD COLUMN holder_kind TEXT;
ALTER TABLE terminal_register ADD COLUMN holder_name TEXT NOT NULL DEFAULT '';
ALTER TABLE terminal_register ADD COLUMN held_since INTEGER;
ALTER TABLE terminal_register ADD COLUMN promised_back TEXT;
CREATE INDEX terminal_register_by_holder ON terminal_register (holder_kind, held_since);
