DROP TABLE output_events;
DROP TABLE test_outputs;
DROP TABLE test_output_lines;
