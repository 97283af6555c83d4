-- Of the attempts node $3 holds, those that are no longer its to run: cancelled, ended, or
-- rescued and claimed elsewhere.
SELECT held.id
FROM UNNEST($1::BIGINT[], $2::BIGINT[]) AS held (id, attempt)
LEFT JOIN jobs j ON j.id = held.id AND j.state = 'running' AND j.attempts = held.attempt
    AND j.node_id = $3
WHERE j.id IS NULL
