ALTER TABLE messages DROP COLUMN body_masked;
ALTER TABLE contacts DROP COLUMN name_masked;
