-- Announced changes: how an instance learns that another instance (or the command line)
-- changed what its caches hold (sessions, users, roles, companies, channels, scopes).
-- Every counted write transaction (db::write_transaction) and every change to one session's
-- state (a flash message, a sign-out) takes the next number from the counter's one row as its
-- last statement and records it here, in the same transaction. The row stays locked until the
-- commit, so announcements commit in the order of their numbers: a reader that sees number n
-- has seen every number below it. Each instance reads what came after the last number it saw,
-- four times a second (auth::change_watch).
CREATE TABLE cache_epoch (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO cache_epoch (id, value) VALUES (1, 0);
CREATE TABLE cache_changes (
    epoch BIGINT PRIMARY KEY,
    -- the one session whose state changed; NULL: anything cached may have changed
    session_token_hash TEXT,
    announced_at TIMESTAMP NOT NULL
);
