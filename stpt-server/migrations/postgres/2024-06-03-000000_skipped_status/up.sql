-- The `skipped` status (an extension of the seed's eight): one more per-status counter for
-- runs and scenarios. Test statuses are plain text, so they need no change.
ALTER TABLE runs ADD COLUMN n_skipped BIGINT NOT NULL DEFAULT 0;
ALTER TABLE scenarios ADD COLUMN n_skipped BIGINT NOT NULL DEFAULT 0;
