-- Labels become records: a display name kept as first written, a lowercase key that compares
-- case-insensitively, and optionally the roles a restricted label is limited to (a conversation
-- carrying a restricted label is visible only to those roles, `domain::visibility`).
CREATE TABLE labels (
    id BIGSERIAL PRIMARY KEY,
    company_id BIGINT NOT NULL REFERENCES companies(id),
    name TEXT NOT NULL,
    -- lower(name): what conversation_labels.label holds
    key TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (company_id, key)
);

-- A label with rows here is restricted to these roles.
CREATE TABLE label_roles (
    label_id BIGINT NOT NULL REFERENCES labels(id),
    role_id BIGINT NOT NULL REFERENCES roles(id),
    PRIMARY KEY (label_id, role_id)
);

-- today's free-text labels, each once per company (their case was not kept before)
INSERT INTO labels (company_id, name, key, created_at)
SELECT DISTINCT company_id, label, label, CURRENT_TIMESTAMP FROM conversation_labels;

ALTER TABLE conversation_labels ADD COLUMN label_id BIGINT REFERENCES labels(id);
UPDATE conversation_labels SET label_id = (
    SELECT l.id FROM labels l
    WHERE l.company_id = conversation_labels.company_id AND l.key = conversation_labels.label);
-- "does this conversation carry one of these labels" (the restricted-label filter)
CREATE INDEX conversation_labels_label ON conversation_labels (conversation_id, label_id);
