-- Deletes the ended jobs a bulk delete selects (`{where}`: `$1` the state, the filter's
-- conditions after it) with their attempt histories, returning them. The rows are locked in
-- id order first, as the other bulk actions lock theirs, so two bulk actions over the same
-- jobs wait for each other instead of deadlocking; a job that changed state meanwhile (a
-- retry queued it) is checked again under its lock and left alone.
WITH selected AS (
    SELECT id FROM jobs WHERE {where} ORDER BY id FOR UPDATE
), deleted AS (
    DELETE FROM jobs WHERE id IN (SELECT id FROM selected) RETURNING id
), history AS (
    DELETE FROM attempts WHERE job_id IN (SELECT id FROM deleted)
)
SELECT id FROM deleted
