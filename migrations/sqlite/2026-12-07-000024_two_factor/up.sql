-- Two-factor sign-in (TOTP). The secret is sealed with a key from the configuration (never
-- stored here in the clear); the pending one waits for its first code during enrolment.
ALTER TABLE users ADD COLUMN two_factor_secret TEXT;
ALTER TABLE users ADD COLUMN two_factor_pending TEXT;
-- the time step of the last code accepted: a code is never accepted twice
ALTER TABLE users ADD COLUMN two_factor_last_step BIGINT;
ALTER TABLE users ADD COLUMN two_factor_enabled_at TIMESTAMP;
-- a company requires two-factor sign-in of the holders of these roles (/settings)
ALTER TABLE roles ADD COLUMN require_two_factor BOOLEAN NOT NULL DEFAULT 0;

-- ten single-use recovery codes per enrolment, SHA-256 of each
CREATE TABLE two_factor_recovery_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id),
    code_hash TEXT NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX two_factor_recovery_codes_user ON two_factor_recovery_codes (user_id);

-- a correct password waiting for its code: the browser holds a random token (its SHA-256
-- here); it lasts minutes, is bound to the browser that gave the password, and is used once
CREATE TABLE two_factor_challenges (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    company_id BIGINT NOT NULL REFERENCES companies(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    next TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX two_factor_challenges_user ON two_factor_challenges (user_id);
