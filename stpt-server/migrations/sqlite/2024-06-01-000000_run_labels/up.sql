-- Labels of a run (what it tested: branch, build, firmware…), one row per label. Kept apart
-- from `runs` so a run carries any number of them (up to the protocol's limit) and a search by
-- label is one range of `run_labels_by_label` per label.
CREATE TABLE run_labels (
    run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    label_key TEXT NOT NULL,
    label_value TEXT NOT NULL,
    PRIMARY KEY (run_id, label_key)
);
CREATE INDEX run_labels_by_label ON run_labels (label_key, label_value, run_id);
-- The search across machines bounds runs by their dry-run timestamp.
CREATE INDEX runs_by_timestamp ON runs (timestamp);
