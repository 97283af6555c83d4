-- The gated claim's lock (held to the transaction's end): gated claims on every host take
-- jobs one claim at a time, so two never both see a tenant's last slot free. Taken before
-- the modules' cap locks (cap_locks.sql), which the module-capped claim takes alone: no two
-- claims wait for each other's locks in opposite orders.
SELECT pg_advisory_xact_lock(hashtextextended('wasmpool.gate', 0))
