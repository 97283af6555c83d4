-- The caps a claim must keep to: each tenant's running quota, then each capped module's
-- cap (kind, name, cap). While no tenant has a running quota the claim takes the other
-- paths (claim.sql, or capped.sql's for capped modules).
SELECT 'tenant' AS kind, name, max_running AS cap FROM tenants WHERE max_running IS NOT NULL
UNION ALL
SELECT 'module', hash, max_running FROM modules INDEXED BY modules_capped
WHERE max_running IS NOT NULL
