DELETE FROM machine_tokens WHERE user_id IS NOT NULL;
ALTER TABLE machine_tokens DROP COLUMN user_id;
