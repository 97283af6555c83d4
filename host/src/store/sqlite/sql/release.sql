-- Gives attempts back to the queue uncounted (drained, or claimed ahead and never started):
-- ?1 is a JSON array of [id, attempt] pairs, one statement for the whole batch.
UPDATE jobs SET state = 'queued', attempts = max(attempts - 1, 0), started_at = NULL,
    worker_pid = NULL
FROM (SELECT value ->> 0 AS id, value ->> 1 AS attempt FROM json_each(?1)) AS r
WHERE jobs.id = r.id AND jobs.attempts = r.attempt AND jobs.state = 'running'
RETURNING jobs.id
