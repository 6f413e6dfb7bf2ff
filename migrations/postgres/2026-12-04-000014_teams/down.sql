DELETE FROM role_permissions WHERE permission IN ('conversations.view_team', 'teams.manage');
ALTER TABLE roles DROP COLUMN teams_only;
DROP INDEX channels_team;
ALTER TABLE channels DROP COLUMN team_id;
DROP TABLE team_members;
DROP TABLE teams;
