-- Personal read tokens: a token row with a user is that person's, for reading only (never
-- ingest); it goes with its user. machine_name holds the user's name and machine_key is empty.
ALTER TABLE machine_tokens ADD COLUMN user_id BIGINT REFERENCES users (id) ON DELETE CASCADE;
