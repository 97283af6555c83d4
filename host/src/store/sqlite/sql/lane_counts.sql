-- Queued and running jobs per lane.
SELECT lane, state, count(*) FROM jobs INDEXED BY jobs_by_state
WHERE state IN ('queued', 'running')
GROUP BY lane, state
