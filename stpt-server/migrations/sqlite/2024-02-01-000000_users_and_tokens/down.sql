DROP TABLE server_secrets;
DROP TABLE password_resets;
DROP TABLE machine_tokens;
DROP TABLE users;
