-- Webhooks: URLs told when a run finishes, fails or is closed as stale, and the outbox of
-- notifications still to deliver (kept in the database, so a restart loses none).
-- Timestamps are microseconds since the Unix epoch (UTC).
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    url TEXT NOT NULL,
    -- finished, failed or stale.
    on_event TEXT NOT NULL,
    -- Only runs of this machine (its lowercased name); NULL for every machine.
    machine_key TEXT,
    -- json or slack.
    format TEXT NOT NULL,
    -- HMAC-SHA256 key of the X-Stpt-Signature header; shown once when created.
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE webhook_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    run_id BIGINT NOT NULL,
    on_event TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    delivered_at BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    -- A run notifies each hook once per event, however often it is seen finishing.
    UNIQUE (webhook_id, run_id, on_event)
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (delivered_at, next_attempt_at);
