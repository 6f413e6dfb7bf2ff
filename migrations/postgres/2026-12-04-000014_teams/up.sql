-- Teams (departments, brands): a channel belongs to at most one team, a user to any number;
-- `conversations.view_team` sees the channels of one's teams, and a role's `teams_only` flag
-- limits `users.manage` and `channels.assign` to the teams its holder leads.
CREATE TABLE teams (
    id BIGSERIAL PRIMARY KEY,
    company_id BIGINT NOT NULL REFERENCES companies(id),
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- names compare case-insensitively within a company
CREATE UNIQUE INDEX teams_name ON teams (company_id, lower(name));

CREATE TABLE team_members (
    team_id BIGINT NOT NULL REFERENCES teams(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    -- a lead is always a member of the team they lead
    is_lead BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
-- a user's teams (scope, "only within my teams")
CREATE INDEX team_members_user ON team_members (user_id, team_id);

ALTER TABLE channels ADD COLUMN team_id BIGINT REFERENCES teams(id);
CREATE INDEX channels_team ON channels (team_id);

ALTER TABLE roles ADD COLUMN teams_only BOOLEAN NOT NULL DEFAULT FALSE;

-- the Supervisor role holds every permission, the new ones included; the version bump makes
-- every instance read its set again
INSERT INTO role_permissions (role_id, permission)
SELECT id, 'conversations.view_team' FROM roles WHERE builtin = 'supervisor';
INSERT INTO role_permissions (role_id, permission)
SELECT id, 'teams.manage' FROM roles WHERE builtin = 'supervisor';
UPDATE roles SET version = version + 1 WHERE builtin = 'supervisor';
