-- A search of one or two characters has no trigram of its own, so migration 10's tables
-- could answer it only by reading every message. Each text is now indexed with two
-- characters U+0001 after it: every character of the text, and every pair, then begins a
-- trigram, and a search for them reads the trigrams that begin so (the tables' vocabulary,
-- `*_search_terms`, in order) and their rows. Contentless tables (deleted by rowid alone), as
-- their text is no longer the content table's.
DROP TRIGGER messages_search_update;
DROP TRIGGER messages_search_delete;
DROP TRIGGER messages_search_insert;
DROP TABLE messages_search;
CREATE VIRTUAL TABLE messages_search USING fts5(
    body, body_masked,
    content = '', contentless_delete = 1,
    tokenize = 'trigram case_sensitive 0'
);
INSERT INTO messages_search (rowid, body, body_masked)
SELECT id, body || char(1, 1), body_masked || char(1, 1) FROM messages;
CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_search (rowid, body, body_masked)
    VALUES (new.id, new.body || char(1, 1), new.body_masked || char(1, 1));
END;
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
    DELETE FROM messages_search WHERE rowid = old.id;
END;
CREATE TRIGGER messages_search_update AFTER UPDATE OF id, body, body_masked ON messages BEGIN
    DELETE FROM messages_search WHERE rowid = old.id;
    INSERT INTO messages_search (rowid, body, body_masked)
    VALUES (new.id, new.body || char(1, 1), new.body_masked || char(1, 1));
END;
CREATE VIRTUAL TABLE messages_search_terms USING fts5vocab(messages_search, 'col');

DROP TRIGGER contacts_search_update;
DROP TRIGGER contacts_search_delete;
DROP TRIGGER contacts_search_insert;
DROP TABLE contacts_search;
CREATE VIRTUAL TABLE contacts_search USING fts5(
    name, name_masked,
    content = '', contentless_delete = 1,
    tokenize = 'trigram case_sensitive 0'
);
INSERT INTO contacts_search (rowid, name, name_masked)
SELECT id, name || char(1, 1), name_masked || char(1, 1) FROM contacts;
CREATE TRIGGER contacts_search_insert AFTER INSERT ON contacts BEGIN
    INSERT INTO contacts_search (rowid, name, name_masked)
    VALUES (new.id, new.name || char(1, 1), new.name_masked || char(1, 1));
END;
CREATE TRIGGER contacts_search_delete AFTER DELETE ON contacts BEGIN
    DELETE FROM contacts_search WHERE rowid = old.id;
END;
CREATE TRIGGER contacts_search_update AFTER UPDATE OF id, name, name_masked ON contacts BEGIN
    DELETE FROM contacts_search WHERE rowid = old.id;
    INSERT INTO contacts_search (rowid, name, name_masked)
    VALUES (new.id, new.name || char(1, 1), new.name_masked || char(1, 1));
END;
CREATE VIRTUAL TABLE contacts_search_terms USING fts5vocab(contacts_search, 'col');
