-- Login sessions held by the server, so a logout, a new password or removing the user ends
-- them at once (a cookie only names its session). Timestamps are microseconds since the epoch.
CREATE TABLE sessions (
    -- Hex SHA-256 of the session token; the token itself lives only in the browser's cookie.
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- One row, moved by every change that can end a credential (a logout, a revoked token, a new
-- password, a removed user), so each server's live sockets re-check theirs when it moves.
CREATE TABLE access_revision (
    id BIGINT PRIMARY KEY NOT NULL,
    revision BIGINT NOT NULL
);
INSERT INTO access_revision (id, revision) VALUES (1, 0);
