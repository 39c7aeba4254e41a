DROP TABLE access_revision;
DROP TABLE sessions;
