-- Sets tenant ?1's quotas (NULL: none): most queued ?2, largest timeout ?3 ms, memory
-- ?4 MiB, fuel ?5, most running ?6, most module bytes ?7; and its fair share's
-- weight ?8 (NULL: 1).
UPDATE tenants SET max_queued = ?2, max_timeout_ms = ?3, max_memory_mb = ?4, max_fuel = ?5,
    max_running = ?6, max_module_bytes = ?7, weight = ?8
WHERE name = ?1
