-- Each test's combined outcome in each run, kept by the writer: history over
-- hundreds of runs then reads one small row per (run, test) instead of
-- grouping every execution. status bits: 1 passed, 2 failed, 4 other outcome.
-- Derived from executions (which hold the foreign keys), so no checks of its own.
CREATE TABLE run_tests (
  run_id BIGINT NOT NULL,
  test_id BIGINT NOT NULL,
  status SMALLINT NOT NULL,
  PRIMARY KEY (run_id, test_id)
);
INSERT INTO run_tests (run_id, test_id, status)
SELECT run_id, test_id, (bool_or(outcome = 0)::int | (bool_or(outcome = 1)::int << 1) | (bool_or(outcome > 1)::int << 2))::smallint
FROM executions GROUP BY run_id, test_id;
