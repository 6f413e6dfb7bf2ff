DROP INDEX contacts_name_masked_trigrams;
DROP INDEX contacts_name_trigrams;
DROP INDEX messages_body_masked_trigrams;
DROP INDEX messages_body_trigrams;
