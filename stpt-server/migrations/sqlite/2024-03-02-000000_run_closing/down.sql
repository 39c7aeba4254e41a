DROP INDEX runs_open_by_last_event;
ALTER TABLE runs DROP COLUMN closed_as;
ALTER TABLE runs DROP COLUMN closed_at;
