-- Whether attempt ?2 of job ?1 is still the job's current one (the writer is the only one
-- changing it, so no lock is needed).
SELECT 1 FROM jobs WHERE id = ?1 AND state = 'running' AND attempts = ?2
