DROP INDEX conversation_assignments_time;
DROP INDEX messages_company_time;
DROP INDEX conversations_company_closed;
DROP INDEX conversations_company_opened;
ALTER TABLE users DROP COLUMN time_zone;
ALTER TABLE conversations DROP COLUMN closed_by_id;
ALTER TABLE conversations DROP COLUMN first_responder_id;
ALTER TABLE conversations DROP COLUMN first_response_at;
