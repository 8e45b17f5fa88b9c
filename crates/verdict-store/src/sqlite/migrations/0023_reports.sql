-- Test-suite reports (ReSim's model, see crate::reports) and the server's
-- project UUID: chosen once by the first node, shared by every node.
CREATE TABLE server_identity (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE reports (
  id INTEGER PRIMARY KEY,
  suite_id INTEGER NOT NULL REFERENCES suites(id),
  branch TEXT NOT NULL,
  name TEXT NOT NULL,
  start_ms INTEGER NOT NULL,
  end_ms INTEGER NOT NULL,
  respect_revision INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  -- A report-metrics program's metrics.binproto, once one ran (`verdict report run`).
  metrics BLOB,
  metrics_status TEXT,
  metrics_at INTEGER
);
CREATE INDEX reports_by_suite ON reports (suite_id, id);
