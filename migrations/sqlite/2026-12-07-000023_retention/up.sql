-- Retention (GDPR / KVKK): how many days the company keeps message text, sign-in records and
-- ended sessions (NULL: for ever). The purge job empties older messages and deletes older
-- sign-in records and ended sessions, in batches.
ALTER TABLE companies ADD COLUMN retention_messages_days INTEGER;
ALTER TABLE companies ADD COLUMN retention_logins_days INTEGER;
ALTER TABLE companies ADD COLUMN retention_sessions_days INTEGER;
-- Every message created before this moment has been purged, except those held (a legal-hold
-- label): the next purge starts here instead of reading the emptied history again.
ALTER TABLE companies ADD COLUMN messages_purged_before TIMESTAMP;
-- The purge reads a company's messages by age.
CREATE INDEX messages_company_created ON messages (company_id, created_at, id);
