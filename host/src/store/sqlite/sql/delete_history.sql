-- The attempt histories of the jobs a bulk delete is about to delete (as in `delete.sql`).
DELETE FROM attempts WHERE job_id IN (SELECT id FROM jobs WHERE state = ?1 AND {filter}
    AND NOT EXISTS (SELECT 1 FROM job_edges e JOIN jobs c ON c.id = e.child_id
                    WHERE e.parent_id = jobs.id AND c.state IN ('waiting', 'queued', 'running')))
