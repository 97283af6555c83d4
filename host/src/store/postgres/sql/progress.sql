-- A running job's latest progress: $1 percent, message $2, from attempt $4 of job $3 run by
-- node $5 (a stale attempt's report changes nothing).
UPDATE jobs SET progress_percent = $1, progress_message = $2
WHERE id = $3 AND state = 'running' AND attempts = $4 AND node_id = $5
