-- Job $1 succeeded but the jobs it spawned were refused as they were written ($2 says why):
-- it ends failed instead, and so does its attempt $3 in the history.
WITH job AS (
    UPDATE jobs SET state = 'failed', error = $2 WHERE id = $1 AND state = 'succeeded'
    RETURNING id
)
UPDATE attempts SET state = 'failed', error = $2
WHERE job_id = $1 AND attempt = $3 AND EXISTS (SELECT 1 FROM job)
