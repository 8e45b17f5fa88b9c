-- A job's pytest-monitor samples (ReSim's memory_mb, cpu_percent, user_time,
-- kernel_time job metrics, see crate::reports): the samples of one run and
-- test, without scanning the suite's.
CREATE INDEX monitor_metrics_by_run ON monitor_metrics (run_id, test_id);
