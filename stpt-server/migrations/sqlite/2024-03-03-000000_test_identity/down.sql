DROP INDEX tests_identity;
ALTER TABLE scenarios DROP COLUMN occurrence;
ALTER TABLE tests DROP COLUMN occurrence;
ALTER TABLE tests DROP COLUMN machine_id;
