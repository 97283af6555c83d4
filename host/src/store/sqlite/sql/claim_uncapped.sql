-- The first ?4 due jobs of lane ?1 (at time ?2) of modules not capped (?3, a JSON array),
-- with their priorities.
SELECT priority, id FROM jobs INDEXED BY jobs_queue
WHERE lane = ?1 AND state = 'queued' AND not_before <= ?2
    AND concurrency_key IS NULL AND rate_limits IS NULL
    AND module_hash NOT IN (SELECT value FROM json_each(?3))
ORDER BY priority DESC, id LIMIT ?4
