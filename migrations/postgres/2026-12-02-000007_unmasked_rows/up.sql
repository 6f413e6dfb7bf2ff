-- The rows still without a masked copy (new since the copies existed, or cleared by a phone
-- region change): the filler looks for them every minute, which must not read every message.
CREATE INDEX messages_without_masked_copy ON messages (id) WHERE body_masked IS NULL;
CREATE INDEX contacts_without_masked_name ON contacts (id) WHERE name_masked IS NULL;
