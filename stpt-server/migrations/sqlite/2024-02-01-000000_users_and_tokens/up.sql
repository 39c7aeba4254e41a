-- Users of the pages, machine tokens for ingest, password-reset links and the server's own
-- secrets. Timestamps are microseconds since the Unix epoch (UTC); secrets are stored hashed.
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL UNIQUE,
    email TEXT,
    -- Argon2id in PHC string form.
    password_hash TEXT NOT NULL,
    -- Sessions issued before this moment are void: a new password ends every old session.
    sessions_since BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE machine_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    -- A token may exist before its machine first reports, so it names the machine rather than
    -- referencing its row; name_key is the lowercased name machines are matched by.
    machine_name TEXT NOT NULL,
    machine_key TEXT NOT NULL,
    -- Hex SHA-256 of the token; the token itself is shown once and never stored.
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX machine_tokens_by_machine ON machine_tokens (machine_key);

CREATE TABLE password_resets (
    -- Hex SHA-256 of the link's token.
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
