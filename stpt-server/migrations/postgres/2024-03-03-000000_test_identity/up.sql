-- A test is the same across a machine's runs when its path, name and occurrence (how many
-- earlier tests of its run share them) match; scenarios likewise among their run's scenarios.
-- Tests carry their machine so a test's history is one index range.
ALTER TABLE tests ADD COLUMN machine_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tests ADD COLUMN occurrence BIGINT NOT NULL DEFAULT 0;
ALTER TABLE scenarios ADD COLUMN occurrence BIGINT NOT NULL DEFAULT 0;

UPDATE tests SET machine_id = (SELECT runs.machine_id FROM runs WHERE runs.id = tests.run_id);
UPDATE tests SET occurrence = (
    SELECT COUNT(*) FROM tests AS earlier
    WHERE earlier.run_id = tests.run_id
      AND earlier.file_path = tests.file_path
      AND earlier.file_name = tests.file_name
      AND earlier.position < tests.position
);
UPDATE scenarios SET occurrence = (
    SELECT COUNT(*) FROM scenarios AS earlier
    WHERE earlier.run_id = scenarios.run_id
      AND earlier.file_path = scenarios.file_path
      AND earlier.file_name = scenarios.file_name
      AND earlier.position < scenarios.position
);

CREATE INDEX tests_identity ON tests (machine_id, file_path, file_name, occurrence, run_id);
