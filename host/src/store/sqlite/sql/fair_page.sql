-- A page of one tenant's jobs for the fair claim: the first ?8 due jobs of tenant ?2 in lane
-- ?1 (at time ?3) after the job at priority ?4, id ?5 in queue order, leaving out the
-- modules ?6 and concurrency keys ?7 already full and the jobs of the rate limits ?9 whose
-- buckets are empty (JSON arrays).
SELECT id, priority, tenant, module_hash, concurrency_key, concurrency_limit, rate_limits
FROM jobs INDEXED BY jobs_fair
WHERE lane = ?1 AND tenant = ?2 AND state = 'queued' AND not_before <= ?3
  AND (priority < ?4 OR (priority = ?4 AND id > ?5))
  AND module_hash NOT IN (SELECT value FROM json_each(?6))
  AND (concurrency_key IS NULL OR concurrency_key NOT IN (SELECT value FROM json_each(?7)))
  AND (rate_limits IS NULL OR NOT EXISTS (SELECT 1 FROM json_each(rate_limits)
                                          WHERE value IN (SELECT value FROM json_each(?9))))
ORDER BY priority DESC, id LIMIT ?8
