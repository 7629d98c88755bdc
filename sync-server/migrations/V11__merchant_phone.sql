-- posfield-server's database, version 11: the merchant's registered phone
-- in the visit projection, for the back office's lists and exports, which
-- show it whole or masked by role (`personal`). Never edit a released
-- migration: add a new one.

-- The phone as the document holds it; '' for a visit without one. NULL
-- marks a row projected before this version: the server fills those in
-- from the documents at its next start.
ALTER TABLE visits ADD COLUMN merchant_phone TEXT;
