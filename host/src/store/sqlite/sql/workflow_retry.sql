-- Runs workflow ?1's jobs in state ?3 again, at time ?2 (a workflow's retry, once per ended
-- state but succeeded): each waits again on its parents that did not succeed (every such
-- parent is being retried too, or has not ended), or is queued when there is none, as a
-- new attempt with its last result cleared (as retry.sql does). A parent's state changes
-- between those not succeeded only, so the count is the same whichever job goes first.
UPDATE jobs
SET waiting_on = (SELECT count(*) FROM job_edges e JOIN jobs p ON p.id = e.parent_id
                  WHERE e.child_id = jobs.id AND p.state <> 'succeeded'),
    state = CASE WHEN EXISTS (SELECT 1 FROM job_edges e JOIN jobs p ON p.id = e.parent_id
                              WHERE e.child_id = jobs.id AND p.state <> 'succeeded')
                 THEN 'waiting' ELSE 'queued' END,
    not_before = ?2, max_attempts = max(max_attempts, attempts + 1),
    started_at = NULL, finished_at = NULL, worker_pid = NULL, exit_code = NULL, stdout = NULL,
    stderr = NULL, stdout_truncated = 0, stderr_truncated = 0, error = NULL, fuel_used = NULL,
    peak_memory_bytes = NULL, call_result = NULL
WHERE workflow_id = ?1 AND state = ?3
RETURNING id, state
