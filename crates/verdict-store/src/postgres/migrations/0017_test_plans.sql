-- Test plans (the flaky spec, §5.2), read and written by bktec's test-plan
-- routes: one plan per (suite, identifier), kept 7 days, so that every
-- parallel job of a build gets the plan the first one created.
CREATE TABLE test_plans (
  suite_id BIGINT NOT NULL REFERENCES suites(id),
  identifier TEXT NOT NULL,
  plan TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (suite_id, identifier)
);
CREATE INDEX test_plans_by_age ON test_plans (created_at);
