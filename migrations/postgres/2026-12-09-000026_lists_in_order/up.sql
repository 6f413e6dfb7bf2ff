-- The team list is read in each of its orders straight from an index, never sorted after
-- reading: by name (the id breaking ties, as the keyset cursor does) and by last sign-in
-- (those who never signed in first in both databases, hence the IS NOT NULL key the query
-- orders by). By username it reads the UNIQUE (company_id, username) index.
-- tests/integration/indexes.rs checks the plans.
DROP INDEX users_company_display_name;
CREATE INDEX users_company_name ON users (company_id, display_name, id);
CREATE INDEX users_company_last_sign_in ON users (company_id, (last_login_at IS NOT NULL), last_login_at, id);
-- A person's notifications are kept: the newest are read from (user, id) backwards instead of
-- sorting all of them (the unread counter keeps its (user, read_at, id) index).
CREATE INDEX notifications_user_recent ON notifications (user_id, id);
