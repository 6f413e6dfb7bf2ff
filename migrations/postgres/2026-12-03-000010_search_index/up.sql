-- Conversation search finds text anywhere in a message or a contact's name (`q=`, as
-- lower(column) LIKE lower('%text%')): trigram indexes on those expressions answer it without
-- reading every message. pg_trgm ships with PostgreSQL and is a trusted extension: the
-- database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX messages_body_trigrams ON messages USING gin (lower(body) gin_trgm_ops);
CREATE INDEX messages_body_masked_trigrams ON messages USING gin (lower(body_masked) gin_trgm_ops);
CREATE INDEX contacts_name_trigrams ON contacts USING gin (lower(name) gin_trgm_ops);
CREATE INDEX contacts_name_masked_trigrams ON contacts USING gin (lower(name_masked) gin_trgm_ops);
