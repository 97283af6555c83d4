-- The attempt history of job $1.
DELETE FROM attempts WHERE job_id = $1
