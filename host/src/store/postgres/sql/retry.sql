-- Queues an ended job again as a new attempt, its last result cleared.
UPDATE jobs
SET state = 'queued', not_before = wasmpool_now(), max_attempts = greatest(max_attempts, attempts + 1),
    started_at = NULL, finished_at = NULL, worker_pid = NULL, exit_code = NULL, stdout = NULL,
    stderr = NULL, stdout_truncated = FALSE, stderr_truncated = FALSE, error = NULL,
    fuel_used = NULL, peak_memory_bytes = NULL, node_id = NULL
WHERE id = $1
