-- What a claim of lane ?1 must keep to: each tenant's running quota and each capped module's
-- cap (kind, name, cap), and a row of kind `keyed` when the lane has queued jobs with a
-- concurrency key. Without a `tenant` or `keyed` row the claim takes the other paths
-- (claim.sql, or capped.sql's for capped modules).
SELECT 'tenant' AS kind, name, max_running AS cap FROM tenants WHERE max_running IS NOT NULL
UNION ALL
SELECT 'module', hash, max_running FROM modules INDEXED BY modules_capped
WHERE max_running IS NOT NULL
UNION ALL
SELECT 'keyed', '', 0
WHERE EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_gated
              WHERE lane = ?1 AND state = 'queued' AND concurrency_key IS NOT NULL)
