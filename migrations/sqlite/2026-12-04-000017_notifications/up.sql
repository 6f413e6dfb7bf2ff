-- In-app notifications: what happened to the team (a user added, deactivated, deleted, a role
-- changed, a channel added), an approval waiting, a request decided. One row per recipient.
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id BIGINT NOT NULL REFERENCES companies(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL,
    summary TEXT NOT NULL,
    link TEXT,
    created_at TIMESTAMP NOT NULL,
    read_at TIMESTAMP
);
-- a person's list, newest first, and their unread count
CREATE INDEX notifications_user ON notifications (user_id, read_at, id);
