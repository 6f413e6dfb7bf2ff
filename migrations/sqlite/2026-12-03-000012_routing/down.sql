DROP INDEX conversations_queue;
ALTER TABLE conversation_assignments DROP COLUMN reason;
ALTER TABLE channel_members DROP COLUMN receives_new_chats;
ALTER TABLE companies DROP COLUMN reroute_offline_minutes;
ALTER TABLE companies DROP COLUMN default_capacity;
ALTER TABLE users DROP COLUMN last_assigned_at;
ALTER TABLE users DROP COLUMN capacity;
ALTER TABLE users DROP COLUMN availability_changed_at;
ALTER TABLE users DROP COLUMN availability;
