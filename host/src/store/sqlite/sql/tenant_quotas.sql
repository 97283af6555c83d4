-- Tenant ?1's quotas and weight (no row: no such tenant).
SELECT max_queued, max_timeout_ms, max_memory_mb, max_fuel, max_running, max_module_bytes,
       weight
FROM tenants WHERE name = ?1
