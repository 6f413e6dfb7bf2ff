-- The agent workspace: labels, reveals with a reason, and when a conversation started
-- waiting for a reply (so "missed chats" is an indexed filter).

ALTER TABLE conversations ADD COLUMN awaiting_reply_since TIMESTAMP;
CREATE INDEX conversations_awaiting ON conversations (company_id, status, awaiting_reply_since);

CREATE TABLE conversation_labels (
    conversation_id BIGINT NOT NULL REFERENCES conversations(id),
    company_id BIGINT NOT NULL REFERENCES companies(id),
    label TEXT NOT NULL,
    PRIMARY KEY (conversation_id, label)
);
CREATE INDEX conversation_labels_company ON conversation_labels (company_id, label, conversation_id);

CREATE TABLE contact_reveals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id BIGINT NOT NULL REFERENCES companies(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    contact_id BIGINT NOT NULL REFERENCES contacts(id),
    conversation_id BIGINT NOT NULL REFERENCES conversations(id),
    reason TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX contact_reveals_user_day ON contact_reveals (user_id, created_at);
