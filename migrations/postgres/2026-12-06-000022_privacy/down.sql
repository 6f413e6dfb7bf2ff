DELETE FROM role_permissions WHERE permission = 'privacy.manage';
