-- Oversight: audit records cannot change once written; login history can carry a location.

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit records cannot be changed or deleted');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit records cannot be changed or deleted');
END;

ALTER TABLE login_events ADD COLUMN location TEXT;
CREATE INDEX login_events_company_user ON login_events (company_id, username, id DESC);
CREATE INDEX audit_events_actor_name ON audit_events (company_id, actor_username, id DESC);
