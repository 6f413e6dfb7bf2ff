CREATE INDEX audit_events_company ON audit_events (company_id, id DESC);
CREATE INDEX audit_events_actor_name ON audit_events (company_id, actor_username, id DESC);
CREATE INDEX login_events_company ON login_events (company_id, id DESC);
CREATE INDEX login_events_company_user ON login_events (company_id, username, id DESC);
DROP INDEX audit_events_company_time;
DROP INDEX audit_events_actor_time;
DROP INDEX login_events_company_time;
DROP INDEX login_events_username_time;
