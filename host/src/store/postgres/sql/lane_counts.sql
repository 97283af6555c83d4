-- Queued and running jobs per lane.
SELECT lane, state, count(*) FROM jobs
WHERE state IN ('queued', 'running')
GROUP BY lane, state
