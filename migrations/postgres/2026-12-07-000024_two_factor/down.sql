DROP TABLE two_factor_challenges;
DROP TABLE two_factor_recovery_codes;
ALTER TABLE roles DROP COLUMN require_two_factor;
ALTER TABLE users DROP COLUMN two_factor_enabled_at;
ALTER TABLE users DROP COLUMN two_factor_last_step;
ALTER TABLE users DROP COLUMN two_factor_pending;
ALTER TABLE users DROP COLUMN two_factor_secret;
