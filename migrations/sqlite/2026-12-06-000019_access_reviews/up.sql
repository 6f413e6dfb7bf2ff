-- Access reviews: a snapshot of every active user's access, decided user by user (keep,
-- change, revoke), closed once every line is decided, then immutable evidence.
CREATE TABLE access_reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id BIGINT NOT NULL REFERENCES companies(id),
    started_by_id BIGINT NOT NULL REFERENCES users(id),
    due_on DATE NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    created_at TIMESTAMP NOT NULL,
    closed_by_id BIGINT REFERENCES users(id),
    closed_at TIMESTAMP
);
-- a company's reviews, newest first; its open one
CREATE INDEX access_reviews_company ON access_reviews (company_id, status, created_at);

-- One line per user as they were when the review started, and its decision.
CREATE TABLE access_review_lines (
    review_id BIGINT NOT NULL REFERENCES access_reviews(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    company_id BIGINT NOT NULL REFERENCES companies(id),
    username TEXT NOT NULL,
    display_name TEXT NOT NULL,
    role_name TEXT NOT NULL,
    -- permission keys, channel names and team names, each joined with ', '
    permissions TEXT NOT NULL,
    channels TEXT NOT NULL,
    teams TEXT NOT NULL,
    last_sign_in_at TIMESTAMP,
    -- no sign-in for the company's dormancy period (or never) when the review started
    dormant BOOLEAN NOT NULL,
    -- what changed since the previous review, in words ('new since the last review', …)
    changes TEXT NOT NULL,
    decision TEXT CHECK (decision IN ('keep', 'change', 'revoke')),
    note TEXT,
    decided_by_id BIGINT REFERENCES users(id),
    decided_at TIMESTAMP,
    PRIMARY KEY (review_id, user_id)
);

-- Regular reviews: when on, a review is due review_every_days after the last one closed (supervisors
-- see an overdue banner; holders of reviews.run are told once when it falls due).
ALTER TABLE companies ADD COLUMN reviews_quarterly BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE companies ADD COLUMN dormant_after_days INTEGER NOT NULL DEFAULT 90;
-- the interval of those reviews, in days
ALTER TABLE companies ADD COLUMN review_every_days INTEGER NOT NULL DEFAULT 90;
ALTER TABLE companies ADD COLUMN review_due_told_on DATE;

-- the Supervisor role holds every permission, the new one included; the version bump makes
-- open sessions pick it up
INSERT INTO role_permissions (role_id, permission)
SELECT id, 'reviews.run' FROM roles WHERE builtin = 'supervisor';
UPDATE roles SET version = version + 1 WHERE builtin = 'supervisor';
