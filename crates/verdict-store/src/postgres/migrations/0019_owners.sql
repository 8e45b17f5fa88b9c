-- Owners files (the flaky spec, §7): one per suite, kept as uploaded; a new
-- upload replaces it and bumps its version. Owners are resolved at read
-- time from the parsed file (cached per version), so a new file applies to
-- every test at once.
CREATE TABLE owner_files (
  suite_id BIGINT PRIMARY KEY REFERENCES suites(id),
  version BIGINT NOT NULL,
  content TEXT NOT NULL,
  uploaded_at BIGINT NOT NULL,
  uploaded_by TEXT NOT NULL
);
