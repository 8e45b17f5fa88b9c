-- Quiet tracks (see `crate::flaky`, `Track::quiet`): a clean run of a
-- healthy test with nothing pending changes only counters and the
-- posterior's decay, so the analysis step leaves such rows alone and
-- replays the runs they skipped when a row is next needed. For that each
-- analysed part is recorded with its number within its suite, and each
-- upload with the part that took it (and whether it was set aside as an
-- infrastructure failure on its own); a track row keeps the part that last
-- wrote it and, while quiet, until when it may skip clean runs. The
-- summary columns of a quiet row (runs, flaky_runs) are as of that part.
CREATE TABLE analysis_parts (
  suite_id BIGINT NOT NULL REFERENCES suites(id),
  n BIGINT NOT NULL,
  run_id BIGINT NOT NULL REFERENCES runs(id),
  branch TEXT,
  at_ms BIGINT NOT NULL,
  first_at BIGINT NOT NULL,
  infra BIGINT NOT NULL,
  -- Its uploads, and whether it was its run's first part with no infra upload:
  -- while the run has no other upload, its run_tests rows are this part's tests.
  uploads BIGINT NOT NULL,
  whole BIGINT NOT NULL,
  PRIMARY KEY (suite_id, n)
);
ALTER TABLE uploads ADD COLUMN part_n BIGINT;
ALTER TABLE uploads ADD COLUMN part_infra BIGINT NOT NULL DEFAULT 0;
ALTER TABLE test_tracks ADD COLUMN as_of BIGINT NOT NULL DEFAULT 0;
ALTER TABLE test_tracks ADD COLUMN quiet_until BIGINT;
