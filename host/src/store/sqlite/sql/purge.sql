-- Deletes the ended jobs that finished before ?1, returning their states (for the counts);
-- a job that a child not yet ended runs after is kept until that child ends (retention never
-- strands a child waiting on it, or one about to read its result).
DELETE FROM jobs WHERE finished_at < ?1 AND state NOT IN ('waiting', 'queued', 'running')
    AND NOT EXISTS (SELECT 1 FROM job_edges e JOIN jobs c ON c.id = e.child_id
                    WHERE e.parent_id = jobs.id AND c.state IN ('waiting', 'queued', 'running'))
RETURNING state
