DELETE FROM role_permissions WHERE permission = 'templates.manage';
DROP TABLE quick_replies;
