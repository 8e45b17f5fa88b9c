-- Named numbers per run (such as seconds of API disruption), which
-- aggregation checks against the same metric in the job's history.
CREATE TABLE run_metrics (
  run_id INTEGER NOT NULL REFERENCES runs(id),
  name TEXT NOT NULL,
  value REAL NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (run_id, name)
) WITHOUT ROWID;
