DROP INDEX audit_events_actor_name;
DROP INDEX login_events_company_user;
ALTER TABLE login_events DROP COLUMN location;
DROP TRIGGER audit_events_no_delete;
DROP TRIGGER audit_events_no_update;
