-- Reports (`/reports`) read these instead of scanning messages: when and by whom a
-- conversation was first answered, and who closed it.
ALTER TABLE conversations ADD COLUMN first_response_at TIMESTAMP;
ALTER TABLE conversations ADD COLUMN first_responder_id BIGINT REFERENCES users (id);
ALTER TABLE conversations ADD COLUMN closed_by_id BIGINT REFERENCES users (id);
UPDATE conversations SET first_response_at = first.created_at, first_responder_id = first.author_id
FROM (SELECT DISTINCT ON (conversation_id) conversation_id, created_at, author_id
      FROM messages WHERE direction = 'outbound' ORDER BY conversation_id, id) AS first
WHERE first.conversation_id = conversations.id;

-- Each person reads times in their own time zone (an IANA name).
ALTER TABLE users ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';

-- The report's time ranges: conversations opened and closed, messages and transfers in a period.
CREATE INDEX conversations_company_opened ON conversations (company_id, created_at);
CREATE INDEX conversations_company_closed ON conversations (company_id, closed_at);
-- (covering: the report's inbound volume and replies per person read only the index)
CREATE INDEX messages_company_time
    ON messages (company_id, direction, created_at, channel_id, author_id, conversation_id);
CREATE INDEX conversation_assignments_time ON conversation_assignments (created_at);
