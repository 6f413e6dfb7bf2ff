DELETE FROM approval_requests WHERE kind = 'settings';
ALTER TABLE approval_requests DROP CONSTRAINT approval_requests_kind_check;
ALTER TABLE approval_requests ADD CONSTRAINT approval_requests_kind_check
    CHECK (kind IN ('template', 'broadcast', 'role_raise'));
DROP INDEX notifications_unmailed;
ALTER TABLE notifications DROP COLUMN email_not_before;
ALTER TABLE notifications DROP COLUMN email_attempts;
ALTER TABLE notifications DROP COLUMN emailed_at;
ALTER TABLE companies DROP COLUMN approve_settings_changes;
