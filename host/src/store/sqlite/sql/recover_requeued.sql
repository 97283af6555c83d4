-- After a restart: jobs that had started and have attempts left are queued again at ?1, the
-- attempt counted.
UPDATE jobs SET state = 'queued', not_before = ?1, worker_pid = NULL,
    error = 'the host stopped during attempt ' || attempts || ' of ' || max_attempts || '; retrying'
WHERE state = 'running' AND attempts < max_attempts
RETURNING id
