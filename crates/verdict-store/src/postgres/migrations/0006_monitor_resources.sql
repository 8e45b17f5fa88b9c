-- pytest-monitor's /resources/<resource>/{head,tail} routes: the samples that
-- used the most or the least of a resource, without sorting the suite's samples.
-- And the suite's samples in id order, for the unfiltered and contains-filtered
-- lists and counts (without it, the planner took a resource index and sorted).
-- And each session's first sample of a component (components/<c>/pipelines...).
CREATE INDEX monitor_metrics_by_component_session ON monitor_metrics (suite_id, component, session_h, id);
CREATE INDEX monitor_metrics_by_suite ON monitor_metrics (suite_id, id);
CREATE INDEX monitor_metrics_by_mem_usage ON monitor_metrics (suite_id, mem_usage);
CREATE INDEX monitor_metrics_by_cpu_usage ON monitor_metrics (suite_id, cpu_usage);
CREATE INDEX monitor_metrics_by_kernel_time ON monitor_metrics (suite_id, kernel_time);
CREATE INDEX monitor_metrics_by_user_time ON monitor_metrics (suite_id, user_time);
CREATE INDEX monitor_metrics_by_total_time ON monitor_metrics (suite_id, total_time);
