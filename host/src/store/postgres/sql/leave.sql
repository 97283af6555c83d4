-- A graceful stop: the node has left, and what it still held goes back to the queue at once,
-- uncounted, instead of waiting out a lease.
WITH gone AS (UPDATE nodes SET state = 'left', heartbeat_at = now() WHERE id = $1)
UPDATE jobs SET state = 'queued', attempts = greatest(attempts - 1, 0), started_at = NULL,
    worker_pid = NULL, node_id = NULL
WHERE state = 'running' AND node_id = $1
RETURNING id
