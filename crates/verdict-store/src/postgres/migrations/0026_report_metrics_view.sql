-- What a page shows of a report's program metrics (verdict_formats::resim_metrics::ProgramMetrics as JSON),
-- derived once when they are stored: pages and the API read it instead of decoding
-- the metrics.binproto again (whose decoding can cost many times the file).
ALTER TABLE reports ADD COLUMN metrics_view TEXT;
