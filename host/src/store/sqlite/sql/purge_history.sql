-- The attempt histories of the ended jobs that finished before ?1 (purge.sql deletes them).
DELETE FROM attempts WHERE job_id IN
    (SELECT id FROM jobs WHERE finished_at < ?1 AND state NOT IN ('queued', 'running'))
