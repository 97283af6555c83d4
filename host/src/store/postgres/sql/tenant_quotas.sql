-- Tenant $1's quotas (no row: no such tenant).
SELECT max_queued, max_timeout_ms, max_memory_mb, max_fuel FROM tenants WHERE name = $1
