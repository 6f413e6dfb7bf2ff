DROP TABLE contacts_search_terms;
DROP TRIGGER contacts_search_update;
DROP TRIGGER contacts_search_delete;
DROP TRIGGER contacts_search_insert;
DROP TABLE contacts_search;
CREATE VIRTUAL TABLE contacts_search USING fts5(
    name, name_masked,
    content = 'contacts', content_rowid = 'id',
    tokenize = 'trigram case_sensitive 0'
);
INSERT INTO contacts_search (contacts_search) VALUES ('rebuild');
CREATE TRIGGER contacts_search_insert AFTER INSERT ON contacts BEGIN
    INSERT INTO contacts_search (rowid, name, name_masked)
    VALUES (new.id, new.name, new.name_masked);
END;
CREATE TRIGGER contacts_search_delete AFTER DELETE ON contacts BEGIN
    INSERT INTO contacts_search (contacts_search, rowid, name, name_masked)
    VALUES ('delete', old.id, old.name, old.name_masked);
END;
CREATE TRIGGER contacts_search_update AFTER UPDATE OF name, name_masked ON contacts BEGIN
    INSERT INTO contacts_search (contacts_search, rowid, name, name_masked)
    VALUES ('delete', old.id, old.name, old.name_masked);
    INSERT INTO contacts_search (rowid, name, name_masked)
    VALUES (new.id, new.name, new.name_masked);
END;

DROP TABLE messages_search_terms;
DROP TRIGGER messages_search_update;
DROP TRIGGER messages_search_delete;
DROP TRIGGER messages_search_insert;
DROP TABLE messages_search;
CREATE VIRTUAL TABLE messages_search USING fts5(
    body, body_masked,
    content = 'messages', content_rowid = 'id',
    tokenize = 'trigram case_sensitive 0'
);
INSERT INTO messages_search (messages_search) VALUES ('rebuild');
CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_search (rowid, body, body_masked)
    VALUES (new.id, new.body, new.body_masked);
END;
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_search (messages_search, rowid, body, body_masked)
    VALUES ('delete', old.id, old.body, old.body_masked);
END;
CREATE TRIGGER messages_search_update AFTER UPDATE OF body, body_masked ON messages BEGIN
    INSERT INTO messages_search (messages_search, rowid, body, body_masked)
    VALUES ('delete', old.id, old.body, old.body_masked);
    INSERT INTO messages_search (rowid, body, body_masked)
    VALUES (new.id, new.body, new.body_masked);
END;
