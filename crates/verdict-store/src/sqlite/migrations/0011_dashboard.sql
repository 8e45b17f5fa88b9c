-- Read by the dashboard (verdict-analysis `pages`) and the runs routes:
-- per-run counts kept by the writer, so that charts over thousands of runs
-- read one row per run and never the executions; each test's summed seconds
-- in a run, for the history strip's cell heights; the suite's link templates.
-- tests_*: tests in the run that passed (never failed), failed (and did not
-- flake), flaked (run_tests bit 8), only skipped/pending/unknown.
ALTER TABLE suites ADD COLUMN commit_url TEXT;
ALTER TABLE suites ADD COLUMN file_url TEXT;
ALTER TABLE runs ADD COLUMN tests_passed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN tests_failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN tests_flaky INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN tests_skipped INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN executions_passed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN executions_failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN executions_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN test_seconds REAL NOT NULL DEFAULT 0;
ALTER TABLE run_tests ADD COLUMN duration REAL;
UPDATE runs SET (tests_passed, tests_failed, tests_flaky, tests_skipped) = (
  SELECT coalesce(sum(status & 3 = 1), 0), coalesce(sum(status & 10 = 2), 0), coalesce(sum(status & 8 = 8), 0), coalesce(sum(status & 7 = 4), 0)
  FROM run_tests WHERE run_id = runs.id);
UPDATE runs SET (executions_passed, executions_failed, executions_total, test_seconds) = (
  SELECT coalesce(sum(outcome = 0), 0), coalesce(sum(outcome = 1), 0), count(*), coalesce(sum(duration), 0)
  FROM executions WHERE run_id = runs.id);
UPDATE run_tests SET duration = (
  SELECT sum(e.duration) FROM executions e WHERE e.run_id = run_tests.run_id AND e.test_id = run_tests.test_id);
