-- A page of the gated claim's walk: the first ?7 due jobs of lane ?1 (at time ?2) after the
-- job at priority ?3, id ?4 in queue order, leaving out the tenants ?5, modules ?6 and
-- concurrency keys ?8 (JSON arrays) already full.
SELECT id, priority, tenant, module_hash, concurrency_key, concurrency_limit
FROM jobs INDEXED BY jobs_queue
WHERE lane = ?1 AND state = 'queued' AND not_before <= ?2
  AND (priority < ?3 OR (priority = ?3 AND id > ?4))
  AND tenant NOT IN (SELECT value FROM json_each(?5))
  AND module_hash NOT IN (SELECT value FROM json_each(?6))
  AND (concurrency_key IS NULL OR concurrency_key NOT IN (SELECT value FROM json_each(?8)))
ORDER BY priority DESC, id LIMIT ?7
