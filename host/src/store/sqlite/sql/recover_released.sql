-- After a restart: jobs the dead process claimed that never reached a worker go back to the
-- queue as if never claimed.
UPDATE jobs SET state = 'queued', attempts = max(attempts - 1, 0), worker_pid = NULL
WHERE state = 'running' AND started_at IS NULL
RETURNING id
