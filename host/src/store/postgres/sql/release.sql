-- Gives attempts back to the queue uncounted (drained, or claimed ahead and never started).
UPDATE jobs j
SET state = 'queued', attempts = greatest(j.attempts - 1, 0), started_at = NULL,
    worker_pid = NULL, node_id = NULL
FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[]) AS v (id, attempt, node_id)
WHERE j.id = v.id AND j.state = 'running' AND j.attempts = v.attempt AND j.node_id = v.node_id
RETURNING j.id
