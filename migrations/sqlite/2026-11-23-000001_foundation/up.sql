-- The whole model of Switchboard. Every row belongs to a company; timestamps are UTC.
-- Keep this file and migrations/sqlite/<same name>/up.sql step for step identical in meaning.

CREATE TABLE app_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE companies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    -- security settings (issue: settings page); safe defaults
    password_min_length INTEGER NOT NULL DEFAULT 12,
    password_require_upper BOOLEAN NOT NULL DEFAULT 1,
    password_require_lower BOOLEAN NOT NULL DEFAULT 1,
    password_require_digit BOOLEAN NOT NULL DEFAULT 1,
    password_require_symbol BOOLEAN NOT NULL DEFAULT 1,
    password_min_score INTEGER NOT NULL DEFAULT 3,
    password_max_age_days INTEGER NOT NULL DEFAULT 0,
    idle_timeout_minutes INTEGER NOT NULL DEFAULT 30,
    session_lifetime_hours INTEGER NOT NULL DEFAULT 12,
    lockout_threshold INTEGER NOT NULL DEFAULT 10,
    reveal_daily_cap INTEGER NOT NULL DEFAULT 10,
    missed_chat_minutes INTEGER NOT NULL DEFAULT 15,
    end_session_on_client_change BOOLEAN NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE roles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id BIGINT NOT NULL REFERENCES companies(id),
    name TEXT NOT NULL,
    -- 'supervisor' or 'agent' for the read-only built-in roles, NULL for custom roles
    builtin TEXT,
    -- bumped on every change so cached permission sets on every instance go stale at once
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (company_id, name)
);

CREATE TABLE role_permissions (
    role_id BIGINT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (role_id, permission)
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id BIGINT NOT NULL REFERENCES companies(id),
    username TEXT NOT NULL,
    display_name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    -- NULL once the user is deleted (personal data erased)
    password_hash TEXT,
    role_id BIGINT NOT NULL REFERENCES roles(id),
    -- 'active', 'deactivated' or 'deleted'
    status TEXT NOT NULL DEFAULT 'active',
    must_change_password BOOLEAN NOT NULL DEFAULT 0,
    password_changed_at TIMESTAMP NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    lockouts INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMP,
    last_login_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP,
    UNIQUE (company_id, username)
);
CREATE INDEX users_company_status ON users (company_id, status, id);
CREATE INDEX users_role ON users (role_id);
CREATE INDEX users_company_display_name ON users (company_id, display_name);

CREATE TABLE channels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id BIGINT NOT NULL REFERENCES companies(id),
    name TEXT NOT NULL,
    -- 'whatsapp', 'instagram', 'messenger', 'telegram', 'sms' or 'voip'
    kind TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT 1,
    webhook_token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (company_id, name)
);

CREATE TABLE channel_members (
    channel_id BIGINT NOT NULL REFERENCES channels(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (channel_id, user_id)
);
CREATE INDEX channel_members_user ON channel_members (user_id, channel_id);

CREATE TABLE contacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id BIGINT NOT NULL REFERENCES companies(id),
    name TEXT NOT NULL,
    phone TEXT,
    -- digits only with a leading '+', for matching inbound traffic
    phone_normalized TEXT,
    email TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX contacts_company_phone ON contacts (company_id, phone_normalized);
CREATE INDEX contacts_company_email ON contacts (company_id, email);

CREATE TABLE conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id BIGINT NOT NULL REFERENCES companies(id),
    channel_id BIGINT NOT NULL REFERENCES channels(id),
    contact_id BIGINT NOT NULL REFERENCES contacts(id),
    assignee_id BIGINT REFERENCES users(id),
    -- 'open' or 'closed'
    status TEXT NOT NULL DEFAULT 'open',
    -- the network's identifier of the customer (a WhatsApp id, an SMS sender...); carries the number
    external_contact_id TEXT,
    last_message_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    closed_at TIMESTAMP
);
CREATE INDEX conversations_company_recent ON conversations (company_id, last_message_at DESC, id DESC);
CREATE INDEX conversations_assignee_status ON conversations (assignee_id, status, last_message_at DESC);
CREATE INDEX conversations_channel_status ON conversations (channel_id, status, last_message_at DESC);
CREATE INDEX conversations_contact ON conversations (contact_id, channel_id, status);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id BIGINT NOT NULL REFERENCES companies(id),
    conversation_id BIGINT NOT NULL REFERENCES conversations(id),
    channel_id BIGINT NOT NULL REFERENCES channels(id),
    -- 'inbound', 'outbound' or 'note'
    direction TEXT NOT NULL,
    author_id BIGINT REFERENCES users(id),
    body TEXT NOT NULL,
    -- the network's message id; unique per channel so retried deliveries are stored once
    external_id TEXT,
    -- 'received' or 'queued'
    delivery TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (channel_id, external_id)
);
CREATE INDEX messages_conversation ON messages (conversation_id, id);

CREATE TABLE conversation_assignments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id BIGINT NOT NULL REFERENCES conversations(id),
    from_user_id BIGINT REFERENCES users(id),
    to_user_id BIGINT REFERENCES users(id),
    by_user_id BIGINT REFERENCES users(id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX conversation_assignments_conversation ON conversation_assignments (conversation_id, id);

CREATE TABLE call_tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id BIGINT NOT NULL REFERENCES companies(id),
    channel_id BIGINT NOT NULL REFERENCES channels(id),
    contact_id BIGINT NOT NULL REFERENCES contacts(id),
    assignee_id BIGINT REFERENCES users(id),
    -- 'missed' or 'answered'
    call_status TEXT NOT NULL,
    duration_seconds INTEGER NOT NULL DEFAULT 0,
    -- 'open' or 'done'
    status TEXT NOT NULL DEFAULT 'open',
    caller_id TEXT,
    external_id TEXT,
    created_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP,
    UNIQUE (channel_id, external_id)
);
CREATE INDEX call_tasks_assignee_status ON call_tasks (assignee_id, status);
CREATE INDEX call_tasks_company_status ON call_tasks (company_id, status, call_status, id);

CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- SHA-256 (hex) of the cookie's random token; the token itself is never stored
    token_hash TEXT NOT NULL UNIQUE,
    company_id BIGINT NOT NULL REFERENCES companies(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    -- the rest of the session state (flash messages), JSON
    data TEXT NOT NULL DEFAULT '{}',
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    revoked_reason TEXT
);
CREATE INDEX sessions_user_active ON sessions (user_id, revoked_at);
CREATE INDEX sessions_company_active ON sessions (company_id, revoked_at, last_seen_at);

CREATE TABLE login_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- NULL when the company code matched no company
    company_id BIGINT REFERENCES companies(id),
    company_code TEXT NOT NULL,
    username TEXT NOT NULL,
    user_id BIGINT REFERENCES users(id),
    success BOOLEAN NOT NULL,
    -- why it failed (for reviewers only): 'unknown_user', 'bad_password', 'deactivated', 'locked'...
    reason TEXT NOT NULL,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX login_events_company ON login_events (company_id, id DESC);
CREATE INDEX login_events_user ON login_events (user_id, id DESC);
CREATE INDEX login_events_ip ON login_events (ip, created_at);

CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id BIGINT NOT NULL REFERENCES companies(id),
    -- position in the company's chain; unique so concurrent writers cannot fork it
    seq BIGINT NOT NULL,
    actor_id BIGINT REFERENCES users(id),
    actor_username TEXT NOT NULL,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id BIGINT,
    target_label TEXT NOT NULL,
    summary TEXT NOT NULL,
    ip TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (company_id, seq)
);
CREATE INDEX audit_events_company ON audit_events (company_id, id DESC);
CREATE INDEX audit_events_actor ON audit_events (company_id, actor_id, id DESC);
CREATE INDEX audit_events_action ON audit_events (company_id, action, id DESC);
