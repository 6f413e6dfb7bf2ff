-- Oversight: audit records cannot change once written; login history can carry a location.

CREATE FUNCTION audit_events_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit records cannot be changed or deleted';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_events_immutable
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();

ALTER TABLE login_events ADD COLUMN location TEXT;
CREATE INDEX login_events_company_user ON login_events (company_id, username, id DESC);
CREATE INDEX audit_events_actor_name ON audit_events (company_id, actor_username, id DESC);
