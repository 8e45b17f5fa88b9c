-- Flaky and broken tests (the flaky spec, §2.6), read by the flaky routes,
-- `verdict flaky` and the test and flaky pages (verdict-analysis `flaky`):
-- the uploads waiting for the analysis step (the queue is the step's durable
-- cursor: the step deletes a run's rows in the transaction that applies
-- them); per (test, track) the state machine's row (`data` is the core's
-- `Track` as JSON; the columns beside it are what lists filter and sort on);
-- every change of state, never rewritten; per (test, track, day) the counts
-- that windows and impact read; each suite's settings; runs set aside as
-- infrastructure failures.
CREATE TABLE analysis_queue (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  suite_id BIGINT NOT NULL REFERENCES suites(id),
  run_id BIGINT NOT NULL REFERENCES runs(id),
  upload_id TEXT NOT NULL,
  queued_at BIGINT NOT NULL
);
CREATE INDEX analysis_queue_by_run ON analysis_queue (run_id, seq);

CREATE TABLE test_tracks (
  test_id BIGINT NOT NULL REFERENCES tests(id),
  track TEXT NOT NULL,
  suite_id BIGINT NOT NULL REFERENCES suites(id),
  state TEXT NOT NULL,
  since_ms BIGINT,
  runs BIGINT NOT NULL,
  flaky_runs BIGINT NOT NULL,
  ci_seconds_lost DOUBLE PRECISION NOT NULL,
  last_flaked_ms BIGINT,
  data TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (test_id, track)
);
CREATE INDEX test_tracks_by_state ON test_tracks (suite_id, track, state);

CREATE TABLE test_state_events (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  test_id BIGINT NOT NULL REFERENCES tests(id),
  track TEXT NOT NULL,
  suite_id BIGINT NOT NULL REFERENCES suites(id),
  at_ms BIGINT NOT NULL,
  from_state TEXT NOT NULL,
  to_state TEXT NOT NULL,
  rule TEXT NOT NULL,
  run_id BIGINT,
  evidence TEXT NOT NULL
);
CREATE INDEX test_state_events_by_test ON test_state_events (test_id, at_ms);
CREATE INDEX test_state_events_by_suite ON test_state_events (suite_id, track, at_ms);

CREATE TABLE track_days (
  test_id BIGINT NOT NULL REFERENCES tests(id),
  track TEXT NOT NULL,
  day BIGINT NOT NULL,
  suite_id BIGINT NOT NULL REFERENCES suites(id),
  parts BIGINT NOT NULL,
  flaky BIGINT NOT NULL,
  failed BIGINT NOT NULL,
  breakage BIGINT NOT NULL,
  runs_failed BIGINT NOT NULL,
  seconds_lost DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (test_id, track, day)
);
CREATE INDEX track_days_by_suite ON track_days (suite_id, track, day);

ALTER TABLE suites ADD COLUMN flaky_settings TEXT;
ALTER TABLE runs ADD COLUMN infra BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN analyzed_at BIGINT;
CREATE INDEX runs_by_commit ON runs (suite_id, commit_sha);
