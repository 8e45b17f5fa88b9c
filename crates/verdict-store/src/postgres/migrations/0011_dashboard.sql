-- Read by the dashboard (verdict-analysis `pages`) and the runs routes:
-- per-run counts kept by the writer, so that charts over thousands of runs
-- read one row per run and never the executions; each test's summed seconds
-- in a run, for the history strip's cell heights; the suite's link templates.
-- tests_*: tests in the run that passed (never failed), failed (and did not
-- flake), flaked (run_tests bit 8), only skipped/pending/unknown.
ALTER TABLE suites ADD COLUMN commit_url TEXT, ADD COLUMN file_url TEXT;
ALTER TABLE runs
  ADD COLUMN tests_passed BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN tests_failed BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN tests_flaky BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN tests_skipped BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN executions_passed BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN executions_failed BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN executions_total BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN test_seconds DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE run_tests ADD COLUMN duration DOUBLE PRECISION;
UPDATE runs SET (tests_passed, tests_failed, tests_flaky, tests_skipped) = (
  SELECT count(*) FILTER (WHERE status & 3 = 1), count(*) FILTER (WHERE status & 10 = 2),
         count(*) FILTER (WHERE status & 8 = 8), count(*) FILTER (WHERE status & 7 = 4)
  FROM run_tests WHERE run_id = runs.id);
UPDATE runs SET (executions_passed, executions_failed, executions_total, test_seconds) = (
  SELECT count(*) FILTER (WHERE outcome = 0), count(*) FILTER (WHERE outcome = 1), count(*), coalesce(sum(duration), 0)
  FROM executions WHERE run_id = runs.id);
UPDATE run_tests SET duration = e.d
FROM (SELECT run_id, test_id, sum(duration) AS d FROM executions GROUP BY run_id, test_id) e
WHERE e.run_id = run_tests.run_id AND e.test_id = run_tests.test_id;
