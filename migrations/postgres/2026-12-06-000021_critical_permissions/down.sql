ALTER TABLE companies DROP COLUMN critical_permissions;
