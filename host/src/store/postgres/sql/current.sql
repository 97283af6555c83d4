-- Whether attempt $2 of job $1 is still the job's current one on node $3, locking the job's
-- row so a rescue cannot slip in before the caller's change commits.
SELECT id FROM jobs WHERE id = $1 AND state = 'running' AND attempts = $2 AND node_id = $3
FOR SHARE
