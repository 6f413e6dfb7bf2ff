-- privacy.manage: data-subject requests (a customer's data exported). The Supervisor role
-- holds every permission, the new one included; the version bump makes open sessions see it.
INSERT INTO role_permissions (role_id, permission)
SELECT id, 'privacy.manage' FROM roles WHERE builtin = 'supervisor';
UPDATE roles SET version = version + 1 WHERE builtin = 'supervisor';

-- A label can put its conversations on legal hold: their customer's data is not erased
-- while one carries it.
ALTER TABLE labels ADD COLUMN legal_hold BOOLEAN NOT NULL DEFAULT 0;
