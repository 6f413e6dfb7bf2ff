ALTER TABLE companies DROP COLUMN phone_region;
