-- Captured output (system_out, system_err) in its own column, so that list
-- pages never read it: it is served on its own route. Rows stored before
-- move theirs out of `detail`.
ALTER TABLE executions ADD COLUMN outputs TEXT;
UPDATE executions
SET outputs = json_object('system_out', json_extract(detail, '$.system_out'), 'system_err', json_extract(detail, '$.system_err')),
    detail = nullif(json_remove(detail, '$.system_out', '$.system_err'), '{}')
WHERE detail IS NOT NULL AND (json_extract(detail, '$.system_out') IS NOT NULL OR json_extract(detail, '$.system_err') IS NOT NULL);
