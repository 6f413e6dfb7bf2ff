DROP TABLE contact_reveals;
DROP TABLE conversation_labels;
DROP INDEX conversations_awaiting;
ALTER TABLE conversations DROP COLUMN awaiting_reply_since;
