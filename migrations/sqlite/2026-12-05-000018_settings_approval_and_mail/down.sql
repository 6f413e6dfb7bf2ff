DELETE FROM approval_requests WHERE kind = 'settings';
CREATE TABLE approval_requests_old (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id BIGINT NOT NULL REFERENCES companies(id),
    kind TEXT NOT NULL CHECK (kind IN ('template', 'broadcast', 'role_raise')),
    subject_id BIGINT NOT NULL,
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
INSERT INTO approval_requests_old SELECT * FROM approval_requests;
DROP TABLE approval_requests;
ALTER TABLE approval_requests_old RENAME TO approval_requests;
CREATE INDEX approval_requests_pending ON approval_requests (company_id, status, created_at);
CREATE INDEX approval_requests_subject ON approval_requests (kind, subject_id, status);
DROP INDEX notifications_unmailed;
ALTER TABLE notifications DROP COLUMN email_not_before;
ALTER TABLE notifications DROP COLUMN email_attempts;
ALTER TABLE notifications DROP COLUMN emailed_at;
ALTER TABLE companies DROP COLUMN approve_settings_changes;
