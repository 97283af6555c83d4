-- What a claim of lane $1 must keep to: capped modules (by hash, the order their locks are
-- taken in), each with its cap and whether it has room for another running job as this
-- statement sees it (a module without room needs no lock: a claim takes none of its jobs);
-- each tenant's running quota; and a row of kind `keyed` when the lane has queued jobs with
-- a concurrency key. With a `tenant` or `keyed` row the claim is the gated one
-- (gate_lock.sql).
SELECT 'module' AS kind, m.hash AS name, m.max_running AS cap,
       m.max_running > (SELECT count(*) FROM jobs r
                        WHERE r.state = 'running' AND r.module_hash = m.hash) AS has_room
FROM modules m
WHERE m.max_running IS NOT NULL
UNION ALL
SELECT 'tenant', t.name, t.max_running, TRUE FROM tenants t WHERE t.max_running IS NOT NULL
UNION ALL
SELECT 'keyed', '', 0, TRUE
WHERE EXISTS (SELECT 1 FROM jobs
              WHERE lane = $1 AND state = 'queued' AND concurrency_key IS NOT NULL)
ORDER BY kind, name
