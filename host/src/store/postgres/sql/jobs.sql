-- A page of jobs, newest first, optionally of one state, one module, and older than an id.
SELECT * FROM jobs
WHERE ($1::TEXT IS NULL OR state = $1) AND ($2::TEXT IS NULL OR module_hash = $2)
  AND ($3::BIGINT IS NULL OR id < $3)
ORDER BY id DESC
LIMIT $4
