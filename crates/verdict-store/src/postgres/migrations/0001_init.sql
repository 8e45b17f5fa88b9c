-- Times are Unix milliseconds (UTC); rollup days are days since the epoch.
CREATE TABLE suites (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  slug TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  default_branch TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  created_at BIGINT NOT NULL
);

CREATE TABLE runs (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  suite_id BIGINT NOT NULL REFERENCES suites(id),
  key TEXT NOT NULL,
  ci TEXT, url TEXT, branch TEXT, commit_sha TEXT, number TEXT, job_id TEXT, message TEXT,
  env TEXT,
  state TEXT NOT NULL,
  result TEXT NOT NULL,
  uploads BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  UNIQUE (suite_id, key)
);
CREATE INDEX runs_by_suite ON runs (suite_id, created_at DESC, id DESC);

CREATE TABLE uploads (
  id TEXT PRIMARY KEY,
  run_id BIGINT NOT NULL REFERENCES runs(id),
  format TEXT NOT NULL,
  tags TEXT,
  queued BIGINT NOT NULL,
  skipped BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX uploads_by_run ON uploads (run_id);

CREATE TABLE tests (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  suite_id BIGINT NOT NULL REFERENCES suites(id),
  scope TEXT NOT NULL,
  name TEXT NOT NULL,
  file_name TEXT,
  location TEXT,
  first_seen BIGINT NOT NULL,
  last_seen BIGINT NOT NULL,
  UNIQUE (suite_id, scope, name)
);

CREATE TABLE executions (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id BIGINT NOT NULL REFERENCES runs(id),
  test_id BIGINT NOT NULL REFERENCES tests(id),
  upload_id TEXT NOT NULL,
  outcome SMALLINT NOT NULL,
  duration DOUBLE PRECISION,
  attempt INTEGER NOT NULL,
  failure_reason TEXT,
  detail TEXT,
  tags TEXT,
  created_at BIGINT NOT NULL
);
CREATE INDEX executions_by_run ON executions (run_id, outcome);
CREATE INDEX executions_by_test ON executions (test_id, created_at);

CREATE TABLE rollups (
  test_id BIGINT NOT NULL REFERENCES tests(id),
  branch TEXT NOT NULL,
  day BIGINT NOT NULL,
  passed BIGINT NOT NULL,
  failed BIGINT NOT NULL,
  skipped BIGINT NOT NULL,
  pending BIGINT NOT NULL,
  unknown BIGINT NOT NULL,
  flaky BIGINT NOT NULL,
  duration_sum DOUBLE PRECISION NOT NULL,
  duration_count BIGINT NOT NULL,
  PRIMARY KEY (test_id, branch, day)
);
