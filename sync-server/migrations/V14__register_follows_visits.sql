-- Version 14: the register follows the visits. An approved visit (or an
-- approved reactivation application) moves its terminals along the
-- lifecycle in the same transaction as the decision; each move is a row of
-- terminal_events naming the visit that caused it, and register_effects
-- records that a decision's effects were applied, so a re-approval, a
-- re-projection or a re-synced copy applies nothing twice.
ALTER TABLE terminal_register ADD COLUMN in_service_since TEXT;
ALTER TABLE terminal_register ADD COLUMN last_inspected TEXT;
ALTER TABLE terminal_register ADD COLUMN sim_shared_plan INTEGER NOT NULL DEFAULT 0;
-- When the register row last changed, and by what: `import` or a visit's effects.
ALTER TABLE terminal_register ADD COLUMN changed_by TEXT NOT NULL DEFAULT 'import';

CREATE TABLE register_effects (
    visit_id   TEXT NOT NULL,
    -- `visit_approved` or `application_approved`.
    cause      TEXT NOT NULL,
    applied_at INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    PRIMARY KEY (visit_id, cause)
) STRICT;

CREATE TABLE terminal_events (
    id         INTEGER PRIMARY KEY,
    serial     TEXT NOT NULL,
    visit_id   TEXT NOT NULL,
    cause      TEXT NOT NULL,
    -- A TerminalEvent code; NULL for a change of facts alone (a SIM renewed,
    -- an inspection, a merchant corrected).
    event      TEXT,
    from_state TEXT,
    to_state   TEXT NOT NULL,
    -- What else changed, in words (merchant, SIM card, days).
    detail     TEXT NOT NULL,
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL
) STRICT;
CREATE INDEX terminal_events_by_serial ON terminal_events (serial, id);
CREATE INDEX terminal_register_by_inspection
    ON terminal_register (COALESCE(last_inspected, in_service_since, production_date))
    WHERE state = 'installed';

-- The fleet shows the register's merchant (what a visit recorded only where
-- the register names none), and the register's SIM card once an approved
-- visit changed the row (before, what the last visit recorded).
DROP VIEW fleet;
CREATE VIEW fleet AS
SELECT r.serial AS serial,
       CASE WHEN r.changed_by = 'import' THEN COALESCE(r.merchant, t.merchant) ELSE r.merchant END AS merchant,
       r.merchant_number AS merchant_number,
       r.model AS model,
       r.manufacturer AS manufacturer,
       r.state AS state,
       r.production_date AS production_date,
       r.warranty_end AS warranty_end,
       CASE WHEN r.changed_by = 'import' THEN COALESCE(t.sim_iccid, r.sim_iccid) ELSE r.sim_iccid END AS sim_iccid,
       CASE WHEN r.changed_by = 'import' THEN COALESCE(t.sim_carrier, r.sim_carrier) ELSE r.sim_carrier END
           AS sim_carrier,
       CASE WHEN r.changed_by = 'import' THEN COALESCE(t.sim_expiry, r.sim_expiry) ELSE r.sim_expiry END
           AS sim_expiry,
       t.last_visit AS last_visit
FROM terminal_register r LEFT JOIN terminals t ON t.serial = r.serial
UNION ALL
SELECT t.serial, t.merchant, NULL, NULL, NULL, NULL, NULL, NULL, t.sim_iccid, t.sim_carrier, t.sim_expiry, t.last_visit
FROM terminals t
WHERE NOT EXISTS (SELECT 1 FROM terminal_register r WHERE r.serial = t.serial);
