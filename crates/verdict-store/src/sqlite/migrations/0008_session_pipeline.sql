-- A session's pipeline and build, as its description gives them (json_extract's
-- value, typed as in the JSON), and an index that holds them: the pipeline
-- routes group and filter sessions by these, and parsing every session's
-- description JSON on each request cost more than the rest of the request.
ALTER TABLE monitor_sessions ADD COLUMN pipeline_branch AS (json_extract(description, '$."pipeline_branch"')) VIRTUAL;
ALTER TABLE monitor_sessions ADD COLUMN pipeline_build_no AS (json_extract(description, '$."pipeline_build_no"')) VIRTUAL;
CREATE INDEX monitor_sessions_by_pipeline ON monitor_sessions (suite_id, pipeline_branch, pipeline_build_no);
