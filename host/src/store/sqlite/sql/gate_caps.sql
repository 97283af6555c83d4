-- What a claim of lane ?1 must keep to: each tenant's running quota and each capped module's
-- cap (kind, name, cap); a row of kind `keyed` when the lane has queued jobs with a
-- concurrency key or rate limits; and a row of kind `queued` per tenant with queued jobs in
-- the lane (its weight as the cap), found by skipping through jobs_fair one tenant at a
-- time. Without a
-- `tenant` or `keyed` row and with fewer than two `queued` rows the claim takes the other
-- paths (claim.sql, or capped.sql's for capped modules).
WITH RECURSIVE queued (tenant) AS (
    SELECT (SELECT min(tenant) FROM jobs INDEXED BY jobs_fair
            WHERE lane = ?1 AND state = 'queued')
    UNION ALL
    SELECT (SELECT min(j.tenant) FROM jobs j INDEXED BY jobs_fair
            WHERE j.lane = ?1 AND j.state = 'queued' AND j.tenant > q.tenant)
    FROM queued q WHERE q.tenant IS NOT NULL
)
SELECT 'tenant' AS kind, name, max_running AS cap FROM tenants WHERE max_running IS NOT NULL
UNION ALL
SELECT 'module', hash, max_running FROM modules INDEXED BY modules_capped
WHERE max_running IS NOT NULL
UNION ALL
SELECT 'keyed', '', 0
WHERE EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_gated
              WHERE lane = ?1 AND state = 'queued'
                AND (concurrency_key IS NOT NULL OR rate_limits IS NOT NULL))
UNION ALL
SELECT 'queued', q.tenant, coalesce(t.weight, 1)
FROM queued q LEFT JOIN tenants t ON t.name = q.tenant
WHERE q.tenant IS NOT NULL
