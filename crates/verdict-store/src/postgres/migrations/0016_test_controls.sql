-- Test controls (the flaky spec, §4.3), read by the quarantine routes,
-- `verdict run` (through `GET /v1/quarantine`) and the test page: per test
-- whether its failures count (enabled, muted, skipped), who set it (a person
-- or the auto-quarantine policy), why, until when, and its pin; every change
-- kept as an event, never rewritten. A suite's manage token (the credential
-- that changes controls) is kept as a hash beside its upload token.
CREATE TABLE test_controls (
  test_id BIGINT PRIMARY KEY REFERENCES tests(id),
  suite_id BIGINT NOT NULL REFERENCES suites(id),
  state TEXT NOT NULL,
  set_by TEXT NOT NULL,
  reason TEXT,
  expires_at BIGINT,
  pin TEXT,
  actor TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX test_controls_by_state ON test_controls (suite_id, state);
CREATE INDEX test_controls_expiring ON test_controls (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE test_control_events (
  id BIGSERIAL PRIMARY KEY,
  test_id BIGINT NOT NULL REFERENCES tests(id),
  suite_id BIGINT NOT NULL REFERENCES suites(id),
  at_ms BIGINT NOT NULL,
  from_state TEXT NOT NULL,
  to_state TEXT NOT NULL,
  set_by TEXT NOT NULL,
  rule TEXT NOT NULL,
  actor TEXT NOT NULL,
  reason TEXT
);
CREATE INDEX test_control_events_by_test ON test_control_events (test_id, at_ms);

ALTER TABLE suites ADD COLUMN manage_token_hash TEXT;
CREATE UNIQUE INDEX suites_by_manage_token ON suites (manage_token_hash);
