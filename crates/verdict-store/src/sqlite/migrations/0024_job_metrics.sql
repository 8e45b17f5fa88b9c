-- Named numbers of a test in a run (ReSim's job metrics): the properties
-- `metric:NAME` of its results (JUnit) or their `metrics` (Buildkite JSON),
-- the last one written winning. Written with the upload, only by uploads
-- that carry some.
CREATE TABLE job_metrics (
  run_id INTEGER NOT NULL,
  test_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  value REAL NOT NULL,
  PRIMARY KEY (run_id, test_id, name)
) WITHOUT ROWID;
