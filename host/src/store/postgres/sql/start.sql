-- Records when claimed attempts reached a worker (fenced like every attempt's write).
UPDATE jobs j SET started_at = v.started_at
FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[])
    AS v (id, attempt, node_id, started_at)
WHERE j.id = v.id AND j.state = 'running' AND j.started_at IS NULL
  AND j.attempts = v.attempt AND j.node_id = v.node_id
