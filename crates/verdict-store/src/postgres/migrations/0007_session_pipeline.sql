-- A session's pipeline and build, as its description gives them, and an index
-- that holds them: the pipeline routes group and filter sessions by these, and
-- parsing every session's description JSON on each request cost more than the
-- rest of the request.
ALTER TABLE monitor_sessions
  ADD COLUMN pipeline_branch TEXT GENERATED ALWAYS AS (description::jsonb ->> 'pipeline_branch') STORED,
  ADD COLUMN pipeline_build_no TEXT GENERATED ALWAYS AS (description::jsonb ->> 'pipeline_build_no') STORED;
CREATE INDEX monitor_sessions_by_pipeline ON monitor_sessions (suite_id, pipeline_branch, pipeline_build_no);
