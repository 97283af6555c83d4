-- What a claim of lane $1 must keep to: capped modules (by hash, the order their locks are
-- taken in), each with its cap and whether it has room for another running job as this
-- statement sees it (a module without room needs no lock: a claim takes none of its jobs);
-- each tenant's running quota; a row of kind `keyed` when the lane has queued jobs with a
-- concurrency key or rate limits; and a row of kind `queued` per tenant with queued jobs in
-- the lane (its weight as the cap), found by skipping through jobs_fair one tenant at a
-- time. With a `tenant` or `keyed` row, or two `queued` rows, the claim is the gated one
-- (gate.rs).
WITH RECURSIVE queued (tenant) AS (
    SELECT (SELECT min(tenant) FROM jobs WHERE lane = $1 AND state = 'queued')
    UNION ALL
    SELECT (SELECT min(j.tenant) FROM jobs j
            WHERE j.lane = $1 AND j.state = 'queued' AND j.tenant > q.tenant)
    FROM queued q WHERE q.tenant IS NOT NULL
)
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
              WHERE lane = $1 AND state = 'queued'
                AND (concurrency_key IS NOT NULL OR rate_limits IS NOT NULL))
UNION ALL
SELECT 'queued', q.tenant, coalesce(t.weight, 1), TRUE
FROM queued q LEFT JOIN tenants t ON t.name = q.tenant
WHERE q.tenant IS NOT NULL
ORDER BY kind, name
