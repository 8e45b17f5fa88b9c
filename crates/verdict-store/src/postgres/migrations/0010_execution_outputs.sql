-- Captured output (system_out, system_err) in its own column, so that list
-- pages never read it: it is served on its own route. Rows stored before
-- move theirs out of `detail`.
ALTER TABLE executions ADD COLUMN outputs TEXT;
UPDATE executions
SET outputs = jsonb_strip_nulls(jsonb_build_object('system_out', detail::jsonb -> 'system_out', 'system_err', detail::jsonb -> 'system_err'))::text,
    detail = nullif((detail::jsonb - 'system_out' - 'system_err')::text, '{}')
WHERE detail IS NOT NULL AND (detail::jsonb ? 'system_out' OR detail::jsonb ? 'system_err');
