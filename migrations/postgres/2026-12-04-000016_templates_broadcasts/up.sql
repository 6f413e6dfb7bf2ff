-- WhatsApp-style message templates, versioned: a draft is edited in place; an approved
-- version never changes (a change is a new draft version that needs approval again).
CREATE TABLE message_templates (
    id BIGSERIAL PRIMARY KEY,
    company_id BIGINT NOT NULL REFERENCES companies(id),
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    category TEXT NOT NULL CHECK (category IN ('marketing', 'utility', 'authentication')),
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'submitted', 'approved', 'rejected')),
    version INTEGER NOT NULL DEFAULT 1,
    -- the version this one changes (NULL for a first version)
    previous_id BIGINT REFERENCES message_templates(id),
    author_id BIGINT NOT NULL REFERENCES users(id),
    decided_by_id BIGINT REFERENCES users(id),
    decided_at TIMESTAMP,
    reason TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX message_templates_company ON message_templates (company_id, status, name);

-- A customer who asked to receive no broadcasts.
ALTER TABLE contacts ADD COLUMN opted_out BOOLEAN NOT NULL DEFAULT FALSE;

-- One approved template sent to a segment of a channel's contacts, after a second person
-- approved it (two-person rule).
CREATE TABLE broadcasts (
    id BIGSERIAL PRIMARY KEY,
    company_id BIGINT NOT NULL REFERENCES companies(id),
    name TEXT NOT NULL,
    channel_id BIGINT NOT NULL REFERENCES channels(id),
    template_id BIGINT NOT NULL REFERENCES message_templates(id),
    -- only contacts with a conversation carrying this label (its key)
    label TEXT,
    -- only contacts whose last message on the channel is on or after this day
    last_contact_after DATE,
    status TEXT NOT NULL CHECK (status IN
        ('draft', 'submitted', 'approved', 'rejected', 'sending', 'sent', 'cancelled')),
    created_by_id BIGINT NOT NULL REFERENCES users(id),
    decided_by_id BIGINT REFERENCES users(id),
    decided_at TIMESTAMP,
    reason TEXT,
    -- who started sending: the batches go out as what they may see
    sent_by_id BIGINT REFERENCES users(id),
    -- recipients when sending began, and how many have their message
    audience INTEGER NOT NULL DEFAULT 0,
    sent INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX broadcasts_company ON broadcasts (company_id, status, id);

-- Who a broadcast reached (a contact once per broadcast, whatever the batches).
CREATE TABLE broadcast_deliveries (
    broadcast_id BIGINT NOT NULL REFERENCES broadcasts(id),
    contact_id BIGINT NOT NULL REFERENCES contacts(id),
    message_id BIGINT NOT NULL REFERENCES messages(id),
    PRIMARY KEY (broadcast_id, contact_id)
);

-- Requests for a second person's decision: a template version, a broadcast, a raise of a role
-- in use. Each names the permission needed to decide it; the requester never decides their
-- own; they expire.
CREATE TABLE approval_requests (
    id BIGSERIAL PRIMARY KEY,
    company_id BIGINT NOT NULL REFERENCES companies(id),
    kind TEXT NOT NULL CHECK (kind IN ('template', 'broadcast', 'role_raise')),
    subject_id BIGINT NOT NULL,
    -- what is applied on approval (a role raise: the role's new name, permissions and limit)
    payload TEXT,
    permission TEXT NOT NULL,
    summary TEXT NOT NULL,
    requested_by_id BIGINT NOT NULL REFERENCES users(id),
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn', 'expired')),
    decided_by_id BIGINT REFERENCES users(id),
    decided_at TIMESTAMP,
    reason TEXT,
    expires_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX approval_requests_pending ON approval_requests (company_id, status, created_at);
CREATE INDEX approval_requests_subject ON approval_requests (kind, subject_id, status);

-- A company may require a second person's approval to add permissions to a role in use.
ALTER TABLE companies ADD COLUMN approve_role_raises BOOLEAN NOT NULL DEFAULT FALSE;

-- the Supervisor role holds every permission, the new ones included
INSERT INTO role_permissions (role_id, permission)
SELECT id, 'templates.approve' FROM roles WHERE builtin = 'supervisor';
INSERT INTO role_permissions (role_id, permission)
SELECT id, 'broadcasts.create' FROM roles WHERE builtin = 'supervisor';
INSERT INTO role_permissions (role_id, permission)
SELECT id, 'broadcasts.approve' FROM roles WHERE builtin = 'supervisor';
UPDATE roles SET version = version + 1 WHERE builtin = 'supervisor';
