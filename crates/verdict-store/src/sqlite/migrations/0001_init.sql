-- Times are Unix milliseconds (UTC); rollup days are days since the epoch.
CREATE TABLE suites (
  id INTEGER PRIMARY KEY,
  slug TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  default_branch TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
);

CREATE TABLE runs (
  id INTEGER PRIMARY KEY,
  suite_id INTEGER NOT NULL REFERENCES suites(id),
  key TEXT NOT NULL,
  ci TEXT, url TEXT, branch TEXT, commit_sha TEXT, number TEXT, job_id TEXT, message TEXT,
  env TEXT,
  state TEXT NOT NULL,
  result TEXT NOT NULL,
  uploads INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (suite_id, key)
);
CREATE INDEX runs_by_suite ON runs (suite_id, created_at DESC, id DESC);

CREATE TABLE uploads (
  id TEXT PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs(id),
  format TEXT NOT NULL,
  tags TEXT,
  queued INTEGER NOT NULL,
  skipped INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX uploads_by_run ON uploads (run_id);

CREATE TABLE tests (
  id INTEGER PRIMARY KEY,
  suite_id INTEGER NOT NULL REFERENCES suites(id),
  scope TEXT NOT NULL,
  name TEXT NOT NULL,
  file_name TEXT,
  location TEXT,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  UNIQUE (suite_id, scope, name)
);

CREATE TABLE executions (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs(id),
  test_id INTEGER NOT NULL REFERENCES tests(id),
  upload_id TEXT NOT NULL,
  outcome INTEGER NOT NULL,
  duration REAL,
  attempt INTEGER NOT NULL,
  failure_reason TEXT,
  detail TEXT,
  tags TEXT,
  created_at INTEGER NOT NULL
);
CREATE INDEX executions_by_run ON executions (run_id, outcome);
CREATE INDEX executions_by_test ON executions (test_id, created_at);

CREATE TABLE rollups (
  test_id INTEGER NOT NULL REFERENCES tests(id),
  branch TEXT NOT NULL,
  day INTEGER NOT NULL,
  passed INTEGER NOT NULL,
  failed INTEGER NOT NULL,
  skipped INTEGER NOT NULL,
  pending INTEGER NOT NULL,
  unknown INTEGER NOT NULL,
  flaky INTEGER NOT NULL,
  duration_sum REAL NOT NULL,
  duration_count INTEGER NOT NULL,
  PRIMARY KEY (test_id, branch, day)
) WITHOUT ROWID;
