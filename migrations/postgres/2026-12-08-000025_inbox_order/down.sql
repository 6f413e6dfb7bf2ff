DROP INDEX conversations_waiting_recent;
DROP INDEX conversations_queue_recent;
DROP INDEX conversations_channel_status;
CREATE INDEX conversations_channel_status ON conversations (channel_id, status, last_message_at DESC);
DROP INDEX conversations_assignee_recent;
DROP INDEX conversations_assignee_status;
CREATE INDEX conversations_assignee_status ON conversations (assignee_id, status, last_message_at DESC);
