-- A page of the gated claim's walk: the first ?7 due jobs of lane ?1 (at time ?2) after the
-- job at priority ?3, id ?4 in queue order, leaving out the tenants ?5, modules ?6 and
-- concurrency keys ?8 already full and the jobs of the rate limits ?9 whose buckets are
-- empty (JSON arrays).
SELECT id, priority, tenant, module_hash, concurrency_key, concurrency_limit, rate_limits
FROM jobs INDEXED BY jobs_queue
WHERE lane = ?1 AND state = 'queued' AND not_before <= ?2
  AND (priority < ?3 OR (priority = ?3 AND id > ?4))
  AND tenant NOT IN (SELECT value FROM json_each(?5))
  AND module_hash NOT IN (SELECT value FROM json_each(?6))
  AND (concurrency_key IS NULL OR concurrency_key NOT IN (SELECT value FROM json_each(?8)))
  AND (rate_limits IS NULL OR NOT EXISTS (SELECT 1 FROM json_each(rate_limits)
                                          WHERE value IN (SELECT value FROM json_each(?9))))
ORDER BY priority DESC, id LIMIT ?7
