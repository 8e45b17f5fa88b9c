-- Test-suite reports (ReSim's model, see crate::reports) and the server's
-- project UUID: chosen once by the first node, shared by every node.
CREATE TABLE server_identity (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE reports (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  suite_id BIGINT NOT NULL REFERENCES suites(id),
  branch TEXT NOT NULL,
  name TEXT NOT NULL,
  start_ms BIGINT NOT NULL,
  end_ms BIGINT NOT NULL,
  respect_revision BOOLEAN NOT NULL,
  created_at BIGINT NOT NULL,
  -- A report-metrics program's metrics.binproto, once one ran (`verdict report run`).
  metrics BYTEA,
  metrics_status TEXT,
  metrics_at BIGINT
);
CREATE INDEX reports_by_suite ON reports (suite_id, id);
