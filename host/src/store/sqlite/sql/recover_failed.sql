-- After a restart: jobs that had started with no attempts left fail at ?1, saying why.
UPDATE jobs SET state = 'failed', finished_at = ?1,
    error = 'the host stopped while the job was running (attempt ' || attempts || ' of '
            || max_attempts || ')'
WHERE state = 'running'
RETURNING id
