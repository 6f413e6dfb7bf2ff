DROP TABLE cache_changes;
DROP TABLE cache_epoch;
