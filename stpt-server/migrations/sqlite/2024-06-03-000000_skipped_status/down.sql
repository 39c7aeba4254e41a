ALTER TABLE scenarios DROP COLUMN n_skipped;
ALTER TABLE runs DROP COLUMN n_skipped;
