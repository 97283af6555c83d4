-- A page of jobs, newest first: at most $1, of those `{filter}` selects (its conditions,
-- placeholders from $2 on; see store/filter.rs).
SELECT * FROM jobs
WHERE {filter}
ORDER BY id DESC
LIMIT $1
