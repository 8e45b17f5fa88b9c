-- Read by the tests list, the suite summary and the overview (verdict-analysis
-- pages): each test's runs by outcome per (branch, day), kept by the writer,
-- so that a range's per-test run counts come from the rollups rather than
-- from every (run, test) row of the range. A run counts once per test, under
-- its latest outcome, on the day of the upload that last changed it (rows
-- stored before: the day the run was last updated).
ALTER TABLE rollups
  ADD COLUMN runs_passed BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN runs_failed BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN runs_flaky BIGINT NOT NULL DEFAULT 0;
INSERT INTO rollups (test_id, branch, day, passed, failed, skipped, pending, unknown, flaky, duration_sum, duration_count, runs_passed, runs_failed, runs_flaky)
SELECT rt.test_id, coalesce(r.branch, ''), r.updated_at / 86400000, 0, 0, 0, 0, 0, 0, 0, 0,
       count(*) FILTER (WHERE rt.status & 11 = 1), count(*) FILTER (WHERE rt.status & 10 = 2), count(*) FILTER (WHERE rt.status & 8 = 8)
FROM run_tests rt JOIN runs r ON r.id = rt.run_id
GROUP BY rt.test_id, coalesce(r.branch, ''), r.updated_at / 86400000
ON CONFLICT (test_id, branch, day) DO UPDATE SET
  runs_passed = EXCLUDED.runs_passed, runs_failed = EXCLUDED.runs_failed, runs_flaky = EXCLUDED.runs_flaky;
