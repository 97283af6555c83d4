-- Claims the jobs $1 (chosen by the gated walk, gate_candidates.sql) for node $3 (named $2),
-- those still queued, counting an attempt; a node no longer alive claims nothing.
UPDATE jobs j
SET state = 'running', attempts = j.attempts + 1, started_at = NULL, finished_at = NULL,
    worker_pid = NULL, node = $2, node_id = $3, claimed_at = wasmpool_now()
WHERE j.id = ANY ($1::BIGINT[]) AND j.state = 'queued'
  AND EXISTS (SELECT 1 FROM nodes WHERE id = $3 AND state = 'alive')
RETURNING j.*
