-- Queues ended jobs again at time ?1 as a new attempt each, their last result cleared: the
-- jobs `{where}` selects (one by id, or a bulk retry's filter), returning them.
UPDATE jobs
SET state = 'queued', not_before = ?1, max_attempts = max(max_attempts, attempts + 1),
    started_at = NULL, finished_at = NULL, worker_pid = NULL, exit_code = NULL, stdout = NULL,
    stderr = NULL, stdout_truncated = 0, stderr_truncated = 0, error = NULL, fuel_used = NULL,
    peak_memory_bytes = NULL
WHERE {where}
RETURNING id
