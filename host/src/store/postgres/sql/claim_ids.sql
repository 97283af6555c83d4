-- Claims the jobs $1 (chosen by the gated walk, gate_candidates.sql or fair_page.sql) for
-- node $3 (named $2), those still queued, counting an attempt; a node no longer alive claims
-- nothing. Rows another host holds locked are skipped (taken in id order, so two claims
-- never wait for each other): a claim gated only by fair shares takes no gate lock, and two
-- hosts may have chosen the same job.
WITH claimable AS (
    SELECT id FROM jobs
    WHERE id = ANY ($1::BIGINT[]) AND state = 'queued'
      AND EXISTS (SELECT 1 FROM nodes WHERE id = $3 AND state = 'alive')
    ORDER BY id
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs j
SET state = 'running', attempts = j.attempts + 1, started_at = NULL, finished_at = NULL,
    worker_pid = NULL, node = $2, node_id = $3, claimed_at = wasmpool_now()
FROM claimable
WHERE j.id = claimable.id
RETURNING j.*
