DROP INDEX runs_by_timestamp;
DROP TABLE run_labels;
