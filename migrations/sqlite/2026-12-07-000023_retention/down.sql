DROP INDEX messages_company_created;
ALTER TABLE companies DROP COLUMN messages_purged_before;
ALTER TABLE companies DROP COLUMN retention_sessions_days;
ALTER TABLE companies DROP COLUMN retention_logins_days;
ALTER TABLE companies DROP COLUMN retention_messages_days;
