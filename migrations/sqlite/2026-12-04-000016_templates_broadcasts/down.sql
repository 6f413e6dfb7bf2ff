DELETE FROM role_permissions
WHERE permission IN ('templates.approve', 'broadcasts.create', 'broadcasts.approve');
DROP TABLE approval_requests;
ALTER TABLE companies DROP COLUMN approve_role_raises;
DROP TABLE broadcast_deliveries;
DROP TABLE broadcasts;
ALTER TABLE contacts DROP COLUMN opted_out;
DROP TABLE message_templates;
