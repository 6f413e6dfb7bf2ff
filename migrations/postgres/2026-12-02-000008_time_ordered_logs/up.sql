-- The activity log and the login history page newest first on (created_at, id): a date range
-- seeks straight to its start instead of walking the log down from the newest id.
CREATE INDEX audit_events_company_time ON audit_events (company_id, created_at DESC, id DESC);
CREATE INDEX audit_events_actor_time ON audit_events (company_id, actor_username, created_at DESC, id DESC);
CREATE INDEX login_events_company_time ON login_events (company_id, created_at DESC, id DESC);
CREATE INDEX login_events_username_time ON login_events (company_id, username, created_at DESC, id DESC);
DROP INDEX audit_events_company;
DROP INDEX audit_events_actor_name;
DROP INDEX login_events_company;
DROP INDEX login_events_company_user;
