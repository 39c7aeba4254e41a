-- Timestamps are microseconds since the Unix epoch (UTC); statuses are their lowercase names.
CREATE TABLE machines (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    last_run_id BIGINT
);

CREATE TABLE runs (
    id BIGSERIAL PRIMARY KEY,
    machine_id BIGINT NOT NULL REFERENCES machines (id) ON DELETE CASCADE,
    timestamp BIGINT NOT NULL,
    file_name TEXT NOT NULL,
    file_path TEXT NOT NULL,
    script TEXT,
    status TEXT NOT NULL,
    timestamp_start BIGINT,
    timestamp_stop BIGINT,
    scenarios_count BIGINT NOT NULL,
    empty_scenarios BIGINT NOT NULL,
    test_count BIGINT NOT NULL,
    running_test_id BIGINT,
    last_event_at BIGINT NOT NULL,
    n_cancelled BIGINT NOT NULL DEFAULT 0,
    n_running BIGINT NOT NULL DEFAULT 0,
    n_waiting BIGINT NOT NULL DEFAULT 0,
    n_unknown BIGINT NOT NULL DEFAULT 0,
    n_failed BIGINT NOT NULL DEFAULT 0,
    n_error BIGINT NOT NULL DEFAULT 0,
    n_warning BIGINT NOT NULL DEFAULT 0,
    n_passed BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX runs_by_machine ON runs (machine_id, id);

CREATE TABLE scenarios (
    id BIGSERIAL PRIMARY KEY,
    run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    file_name TEXT NOT NULL,
    file_path TEXT NOT NULL,
    script TEXT,
    status TEXT NOT NULL,
    timestamp_start BIGINT,
    timestamp_stop BIGINT,
    n_cancelled BIGINT NOT NULL DEFAULT 0,
    n_running BIGINT NOT NULL DEFAULT 0,
    n_waiting BIGINT NOT NULL DEFAULT 0,
    n_unknown BIGINT NOT NULL DEFAULT 0,
    n_failed BIGINT NOT NULL DEFAULT 0,
    n_error BIGINT NOT NULL DEFAULT 0,
    n_warning BIGINT NOT NULL DEFAULT 0,
    n_passed BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX scenarios_by_run ON scenarios (run_id, position);

CREATE TABLE tests (
    id BIGSERIAL PRIMARY KEY,
    run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    scenario_id BIGINT NOT NULL REFERENCES scenarios (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    file_name TEXT NOT NULL,
    file_path TEXT NOT NULL,
    script TEXT,
    status TEXT NOT NULL,
    timestamp_start BIGINT,
    timestamp_stop BIGINT,
    message TEXT
);
CREATE UNIQUE INDEX tests_by_run ON tests (run_id, position);
CREATE INDEX tests_by_scenario ON tests (scenario_id, position);
-- The start/stop look-up: first test of a run with this path and name in this status.
CREATE INDEX tests_lookup ON tests (run_id, file_path, file_name, status, position);

CREATE TABLE applied_events (
    event_id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    machine_id BIGINT NOT NULL,
    run_id BIGINT NOT NULL,
    test_id BIGINT,
    applied_at BIGINT NOT NULL
);

-- A new dry run supersedes the machine's ongoing runs: find them without scanning its history.
CREATE INDEX runs_ongoing ON runs (machine_id) WHERE n_running > 0 OR n_waiting > 0;
