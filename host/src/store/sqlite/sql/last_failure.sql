-- A module's failure that ended at a given time (its latest, found by module_runs.sql).
SELECT id, error FROM jobs INDEXED BY jobs_runs
WHERE module_hash = ?1 AND state IN ('failed', 'timed_out') AND finished_at = ?2
ORDER BY id DESC LIMIT 1
