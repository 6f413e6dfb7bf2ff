-- Quick replies: short texts an agent inserts into the composer. Shared with the company
-- (owner_id NULL, written under `templates.manage`) or personal (their owner's alone).
CREATE TABLE quick_replies (
    id BIGSERIAL PRIMARY KEY,
    company_id BIGINT NOT NULL REFERENCES companies(id),
    owner_id BIGINT REFERENCES users(id),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX quick_replies_company ON quick_replies (company_id, owner_id, title);

-- the Supervisor role holds every permission, the new one included
INSERT INTO role_permissions (role_id, permission)
SELECT id, 'templates.manage' FROM roles WHERE builtin = 'supervisor';
