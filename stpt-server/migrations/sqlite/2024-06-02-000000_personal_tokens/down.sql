-- SQLite cannot drop a column that references another table: the table is rebuilt.
DELETE FROM machine_tokens WHERE user_id IS NOT NULL;
CREATE TABLE machine_tokens_before (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    machine_name TEXT NOT NULL,
    machine_key TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
INSERT INTO machine_tokens_before (id, machine_name, machine_key, token_hash, created_at, revoked_at)
    SELECT id, machine_name, machine_key, token_hash, created_at, revoked_at FROM machine_tokens;
DROP TABLE machine_tokens;
ALTER TABLE machine_tokens_before RENAME TO machine_tokens;
CREATE INDEX machine_tokens_by_machine ON machine_tokens (machine_key);
