-- Changing the security settings can need a second person's approval (like raising a role).
ALTER TABLE companies ADD COLUMN approve_settings_changes BOOLEAN NOT NULL DEFAULT 0;

-- Notifications can also go out by e-mail (when SMTP is configured): each is sent once, by
-- whichever instance claims it first; a failed attempt is retried a few times, each later.
ALTER TABLE notifications ADD COLUMN emailed_at TIMESTAMP;
ALTER TABLE notifications ADD COLUMN email_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN email_not_before TIMESTAMP;
-- the mailer's queue: recent notifications not sent yet
CREATE INDEX notifications_unmailed ON notifications (created_at) WHERE emailed_at IS NULL;

-- approval requests gain a kind: SQLite cannot change a CHECK in place, so the table is rebuilt
CREATE TABLE approval_requests_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id BIGINT NOT NULL REFERENCES companies(id),
    kind TEXT NOT NULL CHECK (kind IN ('template', 'broadcast', 'role_raise', 'settings')),
    subject_id BIGINT NOT NULL,
    -- what is applied on approval (a role raise: the role's new name, permissions and limit;
    -- a settings change: the settings before and after)
    payload TEXT,
    permission TEXT NOT NULL,
    summary TEXT NOT NULL,
    requested_by_id BIGINT NOT NULL REFERENCES users(id),
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn', 'expired')),
    decided_by_id BIGINT REFERENCES users(id),
    decided_at TIMESTAMP,
    reason TEXT,
    expires_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO approval_requests_new SELECT * FROM approval_requests;
DROP TABLE approval_requests;
ALTER TABLE approval_requests_new RENAME TO approval_requests;
CREATE INDEX approval_requests_pending ON approval_requests (company_id, status, created_at);
CREATE INDEX approval_requests_subject ON approval_requests (kind, subject_id, status);
