-- Availability, capacity and routing (`domain::routing`).
-- Each user's availability: online by default; signing in makes it online, signing out or
-- idling out offline; `availability_changed_at` dates it (the offline re-route counts from it).
ALTER TABLE users ADD COLUMN availability TEXT NOT NULL DEFAULT 'online'
    CHECK (availability IN ('online', 'away', 'offline'));
ALTER TABLE users ADD COLUMN availability_changed_at TIMESTAMP;
-- Most open conversations routing gives the user; NULL: the company's default.
ALTER TABLE users ADD COLUMN capacity INTEGER CHECK (capacity IS NULL OR capacity BETWEEN 0 AND 10000);
-- Ties between equally loaded people go to whoever waited longest since their last assignment.
ALTER TABLE users ADD COLUMN last_assigned_at TIMESTAMP;
ALTER TABLE companies ADD COLUMN default_capacity INTEGER NOT NULL DEFAULT 25
    CHECK (default_capacity BETWEEN 1 AND 10000);
-- Minutes offline after which a user's open conversations are routed again (0: never).
ALTER TABLE companies ADD COLUMN reroute_offline_minutes INTEGER NOT NULL DEFAULT 0
    CHECK (reroute_offline_minutes BETWEEN 0 AND 10080);
ALTER TABLE channel_members ADD COLUMN receives_new_chats BOOLEAN NOT NULL DEFAULT TRUE;
-- Why a conversation went where it went (routing's choice, the queue, a re-route).
ALTER TABLE conversation_assignments ADD COLUMN reason TEXT;

-- New chats go by default only to people whose role sees nothing but what is assigned to them.
UPDATE channel_members SET receives_new_chats = FALSE
WHERE user_id IN (
    SELECT u.id FROM users u JOIN role_permissions p ON p.role_id = u.role_id
    WHERE p.permission IN ('conversations.view_channel', 'conversations.view_all'));

-- The unassigned queue of a company, oldest first (routing drains it).
CREATE INDEX conversations_queue ON conversations (company_id, status, assignee_id, created_at);
