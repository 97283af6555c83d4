-- The run times (µs) of one module's runs that started on a worker, from the index alone.
SELECT finished_at - started_at
FROM jobs INDEXED BY jobs_runs
WHERE module_hash = ?1 AND finished_at IS NOT NULL AND started_at IS NOT NULL
  AND state IN ('succeeded', 'failed', 'timed_out')
