-- Deletes the ended jobs in state $1 that a bulk delete's `{filter}` selects (its conditions,
-- placeholders from $2 on) with their attempt histories, returning them; a job that a child
-- not yet ended runs after is kept. The rows are locked in id order first, as the other bulk
-- actions lock theirs, so two bulk actions over the same jobs wait for each other instead of
-- deadlocking; a job that changed state meanwhile (a retry queued it) is checked again under
-- its lock and left alone.
WITH selected AS (
    SELECT id FROM jobs WHERE state = $1 AND {filter}
        AND NOT EXISTS (SELECT 1 FROM job_edges e JOIN jobs c ON c.id = e.child_id
                        WHERE e.parent_id = jobs.id
                          AND c.state IN ('waiting', 'queued', 'running'))
    ORDER BY id FOR UPDATE
), deleted AS (
    DELETE FROM jobs WHERE id IN (SELECT id FROM selected) RETURNING id
), history AS (
    DELETE FROM attempts WHERE job_id IN (SELECT id FROM deleted)
)
SELECT id FROM deleted
