-- Changing the security settings can need a second person's approval (like raising a role).
ALTER TABLE companies ADD COLUMN approve_settings_changes BOOLEAN NOT NULL DEFAULT FALSE;

-- Notifications can also go out by e-mail (when SMTP is configured): each is sent once, by
-- whichever instance claims it first; a failed attempt is retried a few times, each later.
ALTER TABLE notifications ADD COLUMN emailed_at TIMESTAMP;
ALTER TABLE notifications ADD COLUMN email_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN email_not_before TIMESTAMP;
-- the mailer's queue: recent notifications not sent yet
CREATE INDEX notifications_unmailed ON notifications (created_at) WHERE emailed_at IS NULL;

-- approval requests gain a kind
ALTER TABLE approval_requests DROP CONSTRAINT approval_requests_kind_check;
ALTER TABLE approval_requests ADD CONSTRAINT approval_requests_kind_check
    CHECK (kind IN ('template', 'broadcast', 'role_raise', 'settings'));
