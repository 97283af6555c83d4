-- Deletes the ended jobs that finished before ?1, returning their states (for the counts).
DELETE FROM jobs WHERE finished_at < ?1 AND state NOT IN ('queued', 'running')
RETURNING state
