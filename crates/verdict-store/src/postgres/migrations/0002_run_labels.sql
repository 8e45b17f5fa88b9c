-- Runs of one job for one payload are judged together (job-run aggregation).
ALTER TABLE runs ADD COLUMN job TEXT;
ALTER TABLE runs ADD COLUMN payload TEXT;
CREATE INDEX runs_by_job ON runs (suite_id, job, payload);
