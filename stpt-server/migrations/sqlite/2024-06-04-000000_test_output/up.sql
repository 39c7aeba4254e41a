-- A test's output, kept apart from the per-event tables so starts and stops stay as fast.
-- A line's start_byte is how many bytes (text and newline) the test printed before it: the
-- head is the lines up to the first gap, the tail the rest (see stpt-core's output rules).
CREATE TABLE test_output_lines (
    test_id BIGINT NOT NULL REFERENCES tests (id) ON DELETE CASCADE,
    start_byte BIGINT NOT NULL,
    stream TEXT,
    timestamp BIGINT,
    text TEXT NOT NULL,
    PRIMARY KEY (test_id, start_byte)
);

-- Per test: where its head and its output end, and how much was received.
CREATE TABLE test_outputs (
    test_id BIGINT PRIMARY KEY NOT NULL REFERENCES tests (id) ON DELETE CASCADE,
    head_end BIGINT NOT NULL,
    end_byte BIGINT NOT NULL,
    total_lines BIGINT NOT NULL,
    total_bytes BIGINT NOT NULL
);

-- Output batches applied, by their event id (the idempotency of output, apart from
-- applied_events); they go with their test.
CREATE TABLE output_events (
    event_id TEXT PRIMARY KEY NOT NULL,
    machine_id BIGINT NOT NULL,
    run_id BIGINT NOT NULL,
    test_id BIGINT NOT NULL REFERENCES tests (id) ON DELETE CASCADE,
    applied_at BIGINT NOT NULL
);
CREATE INDEX output_events_by_test ON output_events (test_id);
