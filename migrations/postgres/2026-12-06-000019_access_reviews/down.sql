DELETE FROM role_permissions WHERE permission = 'reviews.run';
ALTER TABLE companies DROP COLUMN review_due_told_on;
ALTER TABLE companies DROP COLUMN review_every_days;
ALTER TABLE companies DROP COLUMN dormant_after_days;
ALTER TABLE companies DROP COLUMN reviews_quarterly;
DROP TABLE access_review_lines;
DROP TABLE access_reviews;
