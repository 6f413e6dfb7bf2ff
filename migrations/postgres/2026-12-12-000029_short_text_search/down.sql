DROP FUNCTION search_holds(text, text);
DROP INDEX contacts_name_masked_grams;
DROP INDEX contacts_name_grams;
DROP INDEX messages_body_masked_grams;
DROP INDEX messages_body_grams;
DROP FUNCTION search_grams(text);
