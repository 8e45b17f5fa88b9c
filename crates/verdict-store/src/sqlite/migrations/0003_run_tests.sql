-- Each test's combined outcome in each run, kept by the writer: history over
-- hundreds of runs then reads one small row per (run, test) instead of
-- grouping every execution. status bits: 1 passed, 2 failed, 4 other outcome.
-- Derived from executions (which hold the foreign keys), so no checks of its own.
CREATE TABLE run_tests (
  run_id INTEGER NOT NULL,
  test_id INTEGER NOT NULL,
  status INTEGER NOT NULL,
  PRIMARY KEY (run_id, test_id)
) WITHOUT ROWID;
INSERT INTO run_tests (run_id, test_id, status)
SELECT run_id, test_id, max(outcome = 0) | (max(outcome = 1) << 1) | (max(outcome > 1) << 2)
FROM executions GROUP BY run_id, test_id;
