-- posfield-server's database, version 10: the server key that made each
-- countersignature. Never edit a released migration: add a new one.

-- The Ed25519 public key (lowercase hex) of the server key that signed the
-- countersignature, so that one made before a key rotation is still
-- verified by the key that made it. Countersignatures made before this
-- version are filled in when the server moves its key out of the database
-- (until then only one key ever existed).
ALTER TABLE countersignatures ADD COLUMN server_public_key TEXT;
