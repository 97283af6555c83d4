-- The ended attempts of jobs $1, oldest first per job.
SELECT * FROM attempts WHERE job_id = ANY($1::BIGINT[]) ORDER BY job_id, attempt
