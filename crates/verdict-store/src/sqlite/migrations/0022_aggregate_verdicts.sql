-- aggregate.failed (the flaky spec, §6.2): each (job, payload) batch's last
-- judged blocking failures, so that the event fires again only when that
-- set changes, and the batches changed since they were judged.
CREATE TABLE aggregate_verdicts (
  suite_id INTEGER NOT NULL REFERENCES suites(id),
  job TEXT NOT NULL,
  payload TEXT NOT NULL,
  blocking TEXT NOT NULL,
  last_run_at INTEGER NOT NULL,
  judged_at INTEGER NOT NULL,
  PRIMARY KEY (suite_id, job, payload)
);
CREATE INDEX runs_of_batches_by_update ON runs (updated_at) WHERE job IS NOT NULL AND payload IS NOT NULL;
