-- pytest-monitor: the machines sessions ran on, the sessions (each one also a
-- run), and per-test resource samples (each linked to its test and run).
CREATE TABLE monitor_contexts (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  suite_id BIGINT NOT NULL REFERENCES suites(id),
  h TEXT NOT NULL,
  cpu_count BIGINT NOT NULL,
  cpu_frequency DOUBLE PRECISION NOT NULL,
  cpu_type TEXT NOT NULL,
  cpu_vendor TEXT NOT NULL,
  ram_total BIGINT NOT NULL,
  machine_node TEXT NOT NULL,
  machine_type TEXT NOT NULL,
  machine_arch TEXT NOT NULL,
  system_info TEXT NOT NULL,
  python_info TEXT NOT NULL,
  UNIQUE (suite_id, h)
);
CREATE TABLE monitor_sessions (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  suite_id BIGINT NOT NULL REFERENCES suites(id),
  session_h TEXT NOT NULL,
  run_id BIGINT NOT NULL REFERENCES runs(id),
  run_date TEXT NOT NULL,
  scm_ref TEXT,
  description TEXT NOT NULL,
  UNIQUE (suite_id, session_h)
);
CREATE TABLE monitor_metrics (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  suite_id BIGINT NOT NULL REFERENCES suites(id),
  run_id BIGINT NOT NULL REFERENCES runs(id),
  test_id BIGINT REFERENCES tests(id),
  session_h TEXT NOT NULL,
  context_h TEXT NOT NULL,
  item_start_time TEXT NOT NULL,
  item_path TEXT NOT NULL,
  item TEXT NOT NULL,
  item_variant TEXT NOT NULL,
  item_fs_loc TEXT NOT NULL,
  kind TEXT NOT NULL,
  component TEXT NOT NULL,
  total_time DOUBLE PRECISION NOT NULL,
  user_time DOUBLE PRECISION NOT NULL,
  kernel_time DOUBLE PRECISION NOT NULL,
  cpu_usage DOUBLE PRECISION NOT NULL,
  mem_usage DOUBLE PRECISION NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX monitor_metrics_by_session ON monitor_metrics (suite_id, session_h);
CREATE INDEX monitor_metrics_by_context ON monitor_metrics (suite_id, context_h);
CREATE INDEX monitor_metrics_by_item ON monitor_metrics (suite_id, item);
CREATE INDEX monitor_metrics_by_variant ON monitor_metrics (suite_id, item_variant);
CREATE INDEX monitor_metrics_by_component ON monitor_metrics (suite_id, component);
CREATE INDEX monitor_metrics_by_kind ON monitor_metrics (suite_id, kind);
CREATE INDEX monitor_metrics_by_test ON monitor_metrics (test_id, id);
