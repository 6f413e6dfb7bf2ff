-- An approved broadcast can be scheduled: it starts sending at this instant (UTC), as the
-- person who scheduled it (sent_by_id).
ALTER TABLE broadcasts ADD COLUMN send_at TIMESTAMP;
-- the sender's question every second: approved broadcasts whose time has come
CREATE INDEX broadcasts_due ON broadcasts (status, send_at);
