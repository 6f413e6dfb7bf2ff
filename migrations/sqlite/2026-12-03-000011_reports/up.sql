-- Reports (`/reports`) read these instead of scanning messages: when and by whom a
-- conversation was first answered, and who closed it.
ALTER TABLE conversations ADD COLUMN first_response_at TIMESTAMP;
ALTER TABLE conversations ADD COLUMN first_responder_id BIGINT REFERENCES users (id);
ALTER TABLE conversations ADD COLUMN closed_by_id BIGINT REFERENCES users (id);
UPDATE conversations SET
    first_response_at = (SELECT m.created_at FROM messages m
        WHERE m.conversation_id = conversations.id AND m.direction = 'outbound'
        ORDER BY m.id LIMIT 1),
    first_responder_id = (SELECT m.author_id FROM messages m
        WHERE m.conversation_id = conversations.id AND m.direction = 'outbound'
        ORDER BY m.id LIMIT 1);

-- Each person reads times in their own time zone (an IANA name).
ALTER TABLE users ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';

-- The report's time ranges: conversations opened and closed, messages and transfers in a period.
CREATE INDEX conversations_company_opened ON conversations (company_id, created_at);
CREATE INDEX conversations_company_closed ON conversations (company_id, closed_at);
-- (covering: the report's inbound volume and replies per person read only the index)
CREATE INDEX messages_company_time
    ON messages (company_id, direction, created_at, channel_id, author_id, conversation_id);
CREATE INDEX conversation_assignments_time ON conversation_assignments (created_at);
