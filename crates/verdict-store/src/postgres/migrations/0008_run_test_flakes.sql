-- run_tests.status gets bit 8, "flaked": the test passed and failed as
-- attempts of one case, or in different uploads of the run. Read by the run
-- detail's flaky count and by the aggregator and compare (test_records).
-- Before, any pass and failure in one run counted as a flake, also two
-- same-named results that were not attempts; rows stored then keep that reading.
UPDATE run_tests SET status = status | 8 WHERE status & 3 = 3;
