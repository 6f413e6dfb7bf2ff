-- The lists a page offers read their rows in the list's order (newest activity first, the id
-- breaking ties, as the keyset cursor does) straight from an index, instead of walking the
-- whole company's conversations to find the few that match. At 100,000 conversations on
-- SQLite (`cargo bench --bench reports`) the queue and the missed chats took 9 ms each that
-- way, 0.04 and 0.1 ms with these; tests/integration/indexes.rs checks the plans.
DROP INDEX conversations_assignee_status;
CREATE INDEX conversations_assignee_status ON conversations (assignee_id, status, last_message_at DESC, id DESC);
CREATE INDEX conversations_assignee_recent ON conversations (assignee_id, last_message_at DESC, id DESC);
DROP INDEX conversations_channel_status;
CREATE INDEX conversations_channel_status ON conversations (channel_id, status, last_message_at DESC, id DESC);
-- partial: only the rows that can match, so even SQLite's statistics (averages, no
-- histograms) know how few they are
CREATE INDEX conversations_queue_recent ON conversations (company_id, status, last_message_at DESC, id DESC)
    WHERE assignee_id IS NULL;
CREATE INDEX conversations_waiting_recent ON conversations (company_id, status, last_message_at DESC, id DESC)
    WHERE awaiting_reply_since IS NOT NULL;
