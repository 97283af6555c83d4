-- The first ?4 due jobs of lane ?1 (at time ?2) of capped module ?3, with their priorities.
SELECT priority, id FROM jobs INDEXED BY jobs_queue
WHERE lane = ?1 AND state = 'queued' AND not_before <= ?2 AND module_hash = ?3
  AND concurrency_key IS NULL AND rate_limits IS NULL
ORDER BY priority DESC, id LIMIT ?4
