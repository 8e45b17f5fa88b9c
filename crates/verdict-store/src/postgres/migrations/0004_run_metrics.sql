-- Named numbers per run (such as seconds of API disruption), which
-- aggregation checks against the same metric in the job's history.
CREATE TABLE run_metrics (
  run_id BIGINT NOT NULL REFERENCES runs(id),
  name TEXT NOT NULL,
  value DOUBLE PRECISION NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (run_id, name)
);
