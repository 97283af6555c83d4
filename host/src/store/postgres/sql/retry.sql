-- Queues ended jobs again as a new attempt each, their last result cleared: the jobs
-- `{where}` selects (one by id, or a bulk retry's filter), returning them.
UPDATE jobs
SET state = 'queued', not_before = wasmpool_now(), max_attempts = greatest(max_attempts, attempts + 1),
    started_at = NULL, finished_at = NULL, worker_pid = NULL, exit_code = NULL, stdout = NULL,
    stderr = NULL, stdout_truncated = FALSE, stderr_truncated = FALSE, error = NULL,
    fuel_used = NULL, peak_memory_bytes = NULL, node_id = NULL
WHERE {where}
RETURNING id
