DROP INDEX conversation_labels_label;
ALTER TABLE conversation_labels DROP COLUMN label_id;
DROP TABLE label_roles;
DROP TABLE labels;
