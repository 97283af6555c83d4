-- The earliest time a queued job of lane ?1 falls due, among those not due at ?2.
SELECT min(not_before) FROM jobs INDEXED BY jobs_due
WHERE lane = ?1 AND state = 'queued' AND not_before > ?2
