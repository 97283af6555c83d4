-- Deletes the ended jobs that finished before $1, and their histories, in one statement; a
-- job that a child not yet ended runs after is kept until that child ends (retention never
-- strands a child waiting on it, or one about to read its result).
WITH purged AS (
    DELETE FROM jobs WHERE finished_at < $1 AND state NOT IN ('waiting', 'queued', 'running')
        AND NOT EXISTS (SELECT 1 FROM job_edges e JOIN jobs c ON c.id = e.child_id
                        WHERE e.parent_id = jobs.id
                          AND c.state IN ('waiting', 'queued', 'running'))
    RETURNING id
), history AS (DELETE FROM attempts WHERE job_id IN (SELECT id FROM purged))
SELECT 1 FROM purged
