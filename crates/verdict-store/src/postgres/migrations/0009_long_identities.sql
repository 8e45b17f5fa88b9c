-- PostgreSQL refuses a btree entry over about 2.7 kB, and Verdict accepts a
-- scope and a name of 4096 bytes each and pytest-monitor items of 2048
-- characters (up to 8 kB). A test is therefore unique on the SHA-256 of its
-- scope, a NUL and its name (computed by Verdict on insert; NUL cannot occur
-- in text), with both kept in full; long sample fields are indexed by their
-- MD5 (a lookup index: every query also compares the value itself).
ALTER TABLE tests ADD COLUMN identity BYTEA;
UPDATE tests SET identity = sha256(convert_to(scope, 'UTF8') || '\x00'::bytea || convert_to(name, 'UTF8'));
ALTER TABLE tests ALTER COLUMN identity SET NOT NULL;
ALTER TABLE tests DROP CONSTRAINT tests_suite_id_scope_name_key;
CREATE UNIQUE INDEX tests_identity ON tests (suite_id, identity);

DROP INDEX monitor_metrics_by_item;
DROP INDEX monitor_metrics_by_variant;
CREATE INDEX monitor_metrics_by_item ON monitor_metrics (suite_id, md5(item));
CREATE INDEX monitor_metrics_by_variant ON monitor_metrics (suite_id, md5(item_variant));
