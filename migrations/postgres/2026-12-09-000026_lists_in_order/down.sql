DROP INDEX notifications_user_recent;
DROP INDEX users_company_last_sign_in;
DROP INDEX users_company_name;
CREATE INDEX users_company_display_name ON users (company_id, display_name);
