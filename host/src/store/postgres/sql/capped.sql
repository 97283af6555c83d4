-- The caps a claim must keep to: capped modules (by hash, the order their locks are taken
-- in), each with its cap and whether it has room for another running job as this statement
-- sees it (a module without room needs no lock: a claim takes none of its jobs); then each
-- tenant's running quota. With a tenant's quota the claim is the gated one (gate_lock.sql).
SELECT 'module' AS kind, m.hash AS name, m.max_running AS cap,
       m.max_running > (SELECT count(*) FROM jobs r
                        WHERE r.state = 'running' AND r.module_hash = m.hash) AS has_room
FROM modules m
WHERE m.max_running IS NOT NULL
UNION ALL
SELECT 'tenant', t.name, t.max_running, TRUE FROM tenants t WHERE t.max_running IS NOT NULL
ORDER BY kind, name
