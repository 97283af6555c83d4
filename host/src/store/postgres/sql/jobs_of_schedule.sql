-- A page of one schedule's jobs (through jobs_by_schedule), newest first, optionally of one
-- state, one module, and older than an id.
SELECT * FROM jobs
WHERE schedule = $5 AND ($1::TEXT IS NULL OR state = $1) AND ($2::TEXT IS NULL OR module_hash = $2)
  AND ($3::BIGINT IS NULL OR id < $3)
ORDER BY id DESC
LIMIT $4
