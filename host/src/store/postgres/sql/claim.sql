-- Claims up to $1 due queued jobs of lane $4 for node $3 (named $2), highest priority then
-- oldest first, skipping rows other hosts hold locked (while no module is capped: see
-- claim_capped.sql; jobs with a concurrency key or rate limits are the gated claim's, even one queued
-- after this claim's first read). A node no longer alive claims nothing: a
-- host declared lost must not take work it would never be rescued from. The CTE keeps the
-- LIMIT from being re-run per row by a nested loop.
WITH claimable AS (
    SELECT id FROM jobs
    WHERE lane = $4 AND state = 'queued' AND not_before <= wasmpool_now()
      AND concurrency_key IS NULL AND rate_limits IS NULL
      AND EXISTS (SELECT 1 FROM nodes WHERE id = $3 AND state = 'alive')
    ORDER BY priority DESC, id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs j
SET state = 'running', attempts = j.attempts + 1, started_at = NULL, finished_at = NULL,
    worker_pid = NULL, node = $2, node_id = $3, claimed_at = wasmpool_now()
FROM claimable
WHERE j.id = claimable.id
RETURNING j.*
