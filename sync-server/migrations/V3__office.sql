-- The back office: the imported terminal register and the indexes its pages
-- need to stay fast with 100,000 visits. Never edit a released migration: add a new one.

-- Terminals as the back office registers them (CSV import). What agents
-- capture on site lives in `terminals`; the view `fleet` joins the two.
CREATE TABLE terminal_register (
    serial TEXT PRIMARY KEY NOT NULL,
    model TEXT,
    manufacturer TEXT,
    merchant TEXT,
    merchant_number TEXT,
    -- TerminalState code (in_stock, installed, suspended, ...).
    state TEXT NOT NULL,
    -- YYYY-MM-DD.
    production_date TEXT,
    warranty_end TEXT,
    sim_iccid TEXT,
    sim_carrier TEXT,
    sim_expiry TEXT,
    imported_at INTEGER NOT NULL
) STRICT;
CREATE INDEX terminal_register_by_production ON terminal_register (production_date);
CREATE INDEX terminal_register_by_warranty ON terminal_register (warranty_end);
CREATE INDEX terminal_register_by_sim_expiry ON terminal_register (sim_expiry);
CREATE INDEX terminals_by_sim_expiry ON terminals (sim_expiry);

-- Every terminal the back office knows: registered ones with what visits
-- recorded about them, then terminals only visits know.
CREATE VIEW fleet AS
SELECT r.serial AS serial,
       COALESCE(t.merchant, r.merchant) AS merchant,
       r.merchant_number AS merchant_number,
       r.model AS model,
       r.manufacturer AS manufacturer,
       r.state AS state,
       r.production_date AS production_date,
       r.warranty_end AS warranty_end,
       COALESCE(t.sim_iccid, r.sim_iccid) AS sim_iccid,
       COALESCE(t.sim_carrier, r.sim_carrier) AS sim_carrier,
       COALESCE(t.sim_expiry, r.sim_expiry) AS sim_expiry,
       t.last_visit AS last_visit
FROM terminal_register r LEFT JOIN terminals t ON t.serial = r.serial
UNION ALL
SELECT t.serial, t.merchant, NULL, NULL, NULL, NULL, NULL, NULL, t.sim_iccid, t.sim_carrier, t.sim_expiry, t.last_visit
FROM terminals t
WHERE NOT EXISTS (SELECT 1 FROM terminal_register r WHERE r.serial = t.serial);

-- The visit list's filters, each ordered like the list (newest change first).
CREATE INDEX visits_by_status_updated ON visits (status, updated_at DESC, id);
CREATE INDEX visits_by_kind_updated ON visits (kind, updated_at DESC, id);
CREATE INDEX visits_by_assignee_updated ON visits (assignee, updated_at DESC, id);
CREATE INDEX visits_by_serial_updated ON visits (serial, updated_at DESC, id);
-- Alerts: repairs per terminal, visits waiting for photos, reactivation applications waiting.
CREATE INDEX visits_repairs_by_serial ON visits (serial, updated_at) WHERE kind = 'repair';
CREATE INDEX visits_missing_blobs ON visits (updated_at DESC, id) WHERE blobs_missing > 0;
CREATE INDEX visits_waiting_applications ON visits (updated_at DESC, id)
    WHERE kind = 'reactivation' AND json_extract(office, '$.application.state') = 'submitted';
