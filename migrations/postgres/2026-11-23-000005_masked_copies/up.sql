-- What a viewer without contacts.view_unmasked sees of a message and of a contact's name,
-- stored beside the original so that such a viewer searches the masked text only: no search
-- can then confirm a detail the viewer cannot see. Filled at write time; rows written before
-- this migration are filled by the binary right after migrating (NULL until then).
ALTER TABLE messages ADD COLUMN body_masked TEXT;
ALTER TABLE contacts ADD COLUMN name_masked TEXT;
