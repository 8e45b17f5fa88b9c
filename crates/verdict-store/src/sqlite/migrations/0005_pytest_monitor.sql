-- pytest-monitor: the machines sessions ran on, the sessions (each one also a
-- run), and per-test resource samples (each linked to its test and run).
CREATE TABLE monitor_contexts (
  id INTEGER PRIMARY KEY,
  suite_id INTEGER NOT NULL REFERENCES suites(id),
  h TEXT NOT NULL,
  cpu_count INTEGER NOT NULL,
  cpu_frequency REAL NOT NULL,
  cpu_type TEXT NOT NULL,
  cpu_vendor TEXT NOT NULL,
  ram_total INTEGER NOT NULL,
  machine_node TEXT NOT NULL,
  machine_type TEXT NOT NULL,
  machine_arch TEXT NOT NULL,
  system_info TEXT NOT NULL,
  python_info TEXT NOT NULL,
  UNIQUE (suite_id, h)
);
CREATE TABLE monitor_sessions (
  id INTEGER PRIMARY KEY,
  suite_id INTEGER NOT NULL REFERENCES suites(id),
  session_h TEXT NOT NULL,
  run_id INTEGER NOT NULL REFERENCES runs(id),
  run_date TEXT NOT NULL,
  scm_ref TEXT,
  description TEXT NOT NULL,
  UNIQUE (suite_id, session_h)
);
CREATE TABLE monitor_metrics (
  id INTEGER PRIMARY KEY,
  suite_id INTEGER NOT NULL REFERENCES suites(id),
  run_id INTEGER NOT NULL REFERENCES runs(id),
  test_id INTEGER REFERENCES tests(id),
  session_h TEXT NOT NULL,
  context_h TEXT NOT NULL,
  item_start_time TEXT NOT NULL,
  item_path TEXT NOT NULL,
  item TEXT NOT NULL,
  item_variant TEXT NOT NULL,
  item_fs_loc TEXT NOT NULL,
  kind TEXT NOT NULL,
  component TEXT NOT NULL,
  total_time REAL NOT NULL,
  user_time REAL NOT NULL,
  kernel_time REAL NOT NULL,
  cpu_usage REAL NOT NULL,
  mem_usage REAL NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX monitor_metrics_by_session ON monitor_metrics (suite_id, session_h);
CREATE INDEX monitor_metrics_by_context ON monitor_metrics (suite_id, context_h);
CREATE INDEX monitor_metrics_by_item ON monitor_metrics (suite_id, item);
CREATE INDEX monitor_metrics_by_variant ON monitor_metrics (suite_id, item_variant);
CREATE INDEX monitor_metrics_by_component ON monitor_metrics (suite_id, component);
CREATE INDEX monitor_metrics_by_kind ON monitor_metrics (suite_id, kind);
CREATE INDEX monitor_metrics_by_test ON monitor_metrics (test_id, id);
