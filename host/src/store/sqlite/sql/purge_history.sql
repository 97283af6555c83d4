-- The attempt histories of the ended jobs that finished before ?1 (purge.sql deletes them).
DELETE FROM attempts WHERE job_id IN
    (SELECT id FROM jobs WHERE finished_at < ?1 AND state NOT IN ('waiting', 'queued', 'running')
     AND NOT EXISTS (SELECT 1 FROM job_edges e JOIN jobs c ON c.id = e.child_id
                     WHERE e.parent_id = jobs.id AND c.state IN ('waiting', 'queued', 'running')))
