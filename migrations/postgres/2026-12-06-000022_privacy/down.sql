ALTER TABLE labels DROP COLUMN legal_hold;
DELETE FROM role_permissions WHERE permission = 'privacy.manage';
