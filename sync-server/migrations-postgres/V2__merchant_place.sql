-- Where the merchant's shop is, as the register's import gives it
-- (WGS-84, millionths of a degree): the desk's dispatch sends it with a
-- job for that merchant. Both or neither.
ALTER TABLE terminal_register ADD COLUMN lat_e6 BIGINT, ADD COLUMN lon_e6 BIGINT;
