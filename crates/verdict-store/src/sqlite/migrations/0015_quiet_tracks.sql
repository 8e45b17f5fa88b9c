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
  suite_id INTEGER NOT NULL REFERENCES suites(id),
  n INTEGER NOT NULL,
  run_id INTEGER NOT NULL REFERENCES runs(id),
  branch TEXT,
  at_ms INTEGER NOT NULL,
  first_at INTEGER NOT NULL,
  infra INTEGER NOT NULL,
  -- Its uploads, and whether it was its run's first part with no infra upload:
  -- while the run has no other upload, its run_tests rows are this part's tests.
  uploads INTEGER NOT NULL,
  whole INTEGER NOT NULL,
  PRIMARY KEY (suite_id, n)
);
ALTER TABLE uploads ADD COLUMN part_n INTEGER;
ALTER TABLE uploads ADD COLUMN part_infra INTEGER NOT NULL DEFAULT 0;
ALTER TABLE test_tracks ADD COLUMN as_of INTEGER NOT NULL DEFAULT 0;
ALTER TABLE test_tracks ADD COLUMN quiet_until INTEGER;
-- The analysis step's first read of each of a run's tests: answered from this index alone.
CREATE INDEX test_tracks_probe ON test_tracks (test_id, track, as_of, quiet_until);
