DROP TABLE applied_events;
DROP TABLE tests;
DROP TABLE scenarios;
DROP TABLE runs;
DROP TABLE machines;
