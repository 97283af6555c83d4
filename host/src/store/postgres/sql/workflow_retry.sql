-- Runs workflow $1's jobs in state $2 again (a workflow's retry, once per ended state but
-- succeeded): each waits again on its parents that did not succeed (every such parent is
-- being retried too, or has not ended), or is queued when there is none, as a new attempt
-- with its last result cleared (as retry.sql does).
UPDATE jobs
SET waiting_on = (SELECT count(*) FROM job_edges e JOIN jobs p ON p.id = e.parent_id
                  WHERE e.child_id = jobs.id AND p.state <> 'succeeded'),
    state = CASE WHEN EXISTS (SELECT 1 FROM job_edges e JOIN jobs p ON p.id = e.parent_id
                              WHERE e.child_id = jobs.id AND p.state <> 'succeeded')
                 THEN 'waiting' ELSE 'queued' END,
    not_before = wasmpool_now(), max_attempts = greatest(max_attempts, attempts + 1),
    started_at = NULL, finished_at = NULL, worker_pid = NULL, exit_code = NULL, stdout = NULL,
    stderr = NULL, stdout_truncated = FALSE, stderr_truncated = FALSE, error = NULL,
    fuel_used = NULL, peak_memory_bytes = NULL, node_id = NULL, call_result = NULL
WHERE workflow_id = $1 AND state = $2
RETURNING id, state
