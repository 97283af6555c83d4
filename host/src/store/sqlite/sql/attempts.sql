-- The ended attempts of jobs ?1 (a JSON array of ids), oldest first per job.
SELECT * FROM attempts WHERE job_id IN (SELECT value FROM json_each(?1)) ORDER BY job_id, attempt
