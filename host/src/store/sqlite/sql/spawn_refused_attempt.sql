-- The attempt ?3 of job ?1 whose spawned jobs were refused: failed, ?2 saying why.
UPDATE attempts SET state = 'failed', error = ?2 WHERE job_id = ?1 AND attempt = ?3
