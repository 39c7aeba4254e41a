-- Retries: a test counts its attempts, and every attempt but the current one (which the tests
-- row holds) is kept here.
ALTER TABLE tests ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
UPDATE tests SET attempts = 1 WHERE timestamp_start IS NOT NULL;

CREATE TABLE test_attempts (
    test_id BIGINT NOT NULL REFERENCES tests (id) ON DELETE CASCADE,
    number BIGINT NOT NULL,
    status TEXT NOT NULL,
    timestamp_start BIGINT,
    timestamp_stop BIGINT,
    message TEXT,
    PRIMARY KEY (test_id, number)
);
