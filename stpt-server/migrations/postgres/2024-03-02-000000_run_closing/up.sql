-- A run the server closed (stale, or aborted by hand) says when and why.
ALTER TABLE runs ADD COLUMN closed_at BIGINT;
ALTER TABLE runs ADD COLUMN closed_as TEXT;
-- The stale sweep: ongoing runs by their last event, without scanning finished history.
CREATE INDEX runs_open_by_last_event ON runs (last_event_at) WHERE n_running > 0 OR n_waiting > 0;
