-- Claims of node $1 it does not know it holds: the commit of a claim whose answer never
-- reached the host (the connection dropped during COMMIT). Unstarted, claimed more than a
-- lease ($3 µs) ago and not among the attempts the host holds ($2), they go back uncounted.
UPDATE jobs
SET state = 'queued', attempts = greatest(attempts - 1, 0), node_id = NULL
WHERE state = 'running' AND node_id = $1 AND started_at IS NULL
  AND claimed_at < wasmpool_now() - $3 AND id <> ALL($2::BIGINT[])
RETURNING id
