DROP TABLE test_attempts;
ALTER TABLE tests DROP COLUMN attempts;
