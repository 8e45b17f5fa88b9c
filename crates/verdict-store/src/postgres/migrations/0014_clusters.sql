-- Failure clusters (the flaky spec, §3), read by the clusters routes,
-- `verdict failures` and the failures pages (verdict-analysis `clusters`):
-- each failed execution's cluster, set by the writer in the upload's
-- transaction (a suite rule's id when one claims the reason, else the
-- verdict-reason-v1 id); per cluster its title, first and last failure and an
-- example; per (cluster, day) the failures; which tests and runs each
-- cluster touched per day, for distinct counts over 1, 3 and 7 days; and the
-- suites' rules. Failures of infrastructure-failure uploads get a cluster
-- but no counts.
ALTER TABLE executions ADD COLUMN cluster_id TEXT;
CREATE INDEX executions_by_cluster ON executions (cluster_id, id) WHERE cluster_id IS NOT NULL;

CREATE TABLE clusters (
  suite_id BIGINT NOT NULL REFERENCES suites(id),
  cluster_id TEXT NOT NULL,
  algorithm TEXT NOT NULL,
  title TEXT NOT NULL,
  first_seen BIGINT NOT NULL,
  last_seen BIGINT NOT NULL,
  example_execution_id BIGINT NOT NULL,
  PRIMARY KEY (suite_id, cluster_id)
);

CREATE TABLE cluster_days (
  suite_id BIGINT NOT NULL REFERENCES suites(id),
  cluster_id TEXT NOT NULL,
  day BIGINT NOT NULL,
  failures BIGINT NOT NULL,
  PRIMARY KEY (suite_id, cluster_id, day)
);
CREATE INDEX cluster_days_by_day ON cluster_days (suite_id, day);

CREATE TABLE cluster_tests (
  suite_id BIGINT NOT NULL REFERENCES suites(id),
  cluster_id TEXT NOT NULL,
  day BIGINT NOT NULL,
  test_id BIGINT NOT NULL REFERENCES tests(id),
  failures BIGINT NOT NULL,
  last_failed_at BIGINT NOT NULL,
  PRIMARY KEY (suite_id, cluster_id, day, test_id)
);

CREATE TABLE cluster_runs (
  suite_id BIGINT NOT NULL REFERENCES suites(id),
  cluster_id TEXT NOT NULL,
  run_id BIGINT NOT NULL REFERENCES runs(id),
  day BIGINT NOT NULL,
  PRIMARY KEY (suite_id, cluster_id, run_id)
);

CREATE TABLE cluster_rules (
  id TEXT PRIMARY KEY,
  suite_id BIGINT NOT NULL REFERENCES suites(id),
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  pattern TEXT NOT NULL,
  bug_url TEXT,
  priority BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX cluster_rules_by_suite ON cluster_rules (suite_id, priority);
