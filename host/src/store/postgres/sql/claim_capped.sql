-- The claim while some modules are capped (see claim.sql for the rest): no job of a capped
-- module ($6) is taken beyond its room, which is counted here, in a snapshot taken after
-- this transaction locked the modules it may take jobs of ($4, their caps $5), so two hosts
-- never both see the last slot free. The jobs taken are the first $1 of the lane's due queue
-- once each capped module's jobs past its room are left out: the first $1 jobs of uncapped
-- modules, and each open capped module's first `room` jobs, merged.
WITH room AS (
    SELECT c.hash,
           c.cap - (SELECT count(*) FROM jobs r
                    WHERE r.state = 'running' AND r.module_hash = c.hash) AS room
    FROM UNNEST($4::TEXT[], $5::BIGINT[]) AS c (hash, cap)
),
uncapped AS (
    SELECT id, priority FROM jobs
    WHERE lane = $7 AND state = 'queued' AND not_before <= wasmpool_now()
      AND concurrency_key IS NULL AND rate_limits IS NULL
      AND module_hash <> ALL ($6::TEXT[])
    ORDER BY priority DESC, id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
),
capped AS (
    SELECT first.id, first.priority
    FROM room
    CROSS JOIN LATERAL (
        SELECT id, priority FROM jobs
        WHERE lane = $7 AND state = 'queued' AND not_before <= wasmpool_now()
      AND concurrency_key IS NULL AND rate_limits IS NULL
          AND module_hash = room.hash
        ORDER BY priority DESC, id
        LIMIT greatest(least(room.room, $1), 0)
        FOR UPDATE SKIP LOCKED
    ) AS first
),
claimable AS (
    SELECT id FROM (SELECT * FROM uncapped UNION ALL SELECT * FROM capped) AS chosen
    WHERE EXISTS (SELECT 1 FROM nodes WHERE id = $3 AND state = 'alive')
    ORDER BY priority DESC, id
    LIMIT $1
)
UPDATE jobs j
SET state = 'running', attempts = j.attempts + 1, started_at = NULL, finished_at = NULL,
    worker_pid = NULL, node = $2, node_id = $3, claimed_at = wasmpool_now()
FROM claimable
WHERE j.id = claimable.id
RETURNING j.*
