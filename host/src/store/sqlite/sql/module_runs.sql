-- Per module: its runs (jobs ended succeeded, failed or timed out), how many succeeded, and
-- when it last failed. A scan of the index jobs_runs alone.
SELECT module_hash, count(*) AS runs, sum(state = 'succeeded') AS succeeded,
       max(CASE WHEN state <> 'succeeded' THEN finished_at END) AS last_failed_at
FROM jobs INDEXED BY jobs_runs
WHERE finished_at IS NOT NULL AND state IN ('succeeded', 'failed', 'timed_out')
GROUP BY module_hash
