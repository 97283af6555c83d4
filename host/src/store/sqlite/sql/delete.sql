-- Deletes the ended jobs in state ?1 that a bulk delete's `{filter}` selects (its conditions,
-- placeholders from ?2 on), returning them; a job that a child not yet ended runs after is
-- kept (delete_history.sql keeps its history). Their attempt histories go first, in the same
-- transaction (`delete_history.sql`).
DELETE FROM jobs WHERE state = ?1 AND {filter}
    AND NOT EXISTS (SELECT 1 FROM job_edges e JOIN jobs c ON c.id = e.child_id
                    WHERE e.parent_id = jobs.id AND c.state IN ('waiting', 'queued', 'running'))
RETURNING id
