-- pytest-monitor samples are committed here first: a table with no index but
-- its key, so that a POST /metrics/ commits one small row instead of one page
-- per index of monitor_metrics (13 of them). The writer moves them into
-- monitor_metrics in bulk, in id order, when it has nothing else to do, when
-- many are waiting, and before any read of samples. Its rows were validated on
-- the way in (session, context, test), and the move keeps their order.
CREATE TABLE monitor_inbox (
  id INTEGER PRIMARY KEY,
  suite_id INTEGER NOT NULL,
  run_id INTEGER NOT NULL,
  test_id INTEGER,
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
