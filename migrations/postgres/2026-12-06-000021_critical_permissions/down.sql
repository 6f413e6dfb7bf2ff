ALTER TABLE companies DROP COLUMN deactivate_dormant;
ALTER TABLE companies DROP COLUMN critical_permissions;
