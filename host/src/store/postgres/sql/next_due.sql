-- The earliest time a queued job of lane $1 falls due, among those not due yet (by the
-- database's clock).
SELECT min(not_before) FROM jobs
WHERE lane = $1 AND state = 'queued' AND not_before > wasmpool_now()
