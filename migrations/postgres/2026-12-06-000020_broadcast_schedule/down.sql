DROP INDEX broadcasts_due;
ALTER TABLE broadcasts DROP COLUMN send_at;
