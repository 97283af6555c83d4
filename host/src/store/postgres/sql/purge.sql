-- Deletes the ended jobs that finished before $1, and their histories, in one statement.
WITH purged AS (
    DELETE FROM jobs WHERE finished_at < $1 AND state NOT IN ('queued', 'running')
    RETURNING id
), history AS (DELETE FROM attempts WHERE job_id IN (SELECT id FROM purged))
SELECT 1 FROM purged
