-- A page of the gated claim's walk: the first $6 due jobs of lane $1 after the job at
-- priority $2, id $3 in queue order, leaving out the tenants $4, modules $5 and concurrency
-- keys $7 already full and the jobs of the rate limits $8 whose buckets are empty. No row
-- lock: the claim's UPDATE (claim_ids.sql) takes only rows still queued.
SELECT id, priority, tenant, module_hash, concurrency_key, concurrency_limit, rate_limits
FROM jobs
WHERE lane = $1 AND state = 'queued' AND not_before <= wasmpool_now()
  AND (priority < $2 OR (priority = $2 AND id > $3))
  AND tenant <> ALL ($4::TEXT[])
  AND module_hash <> ALL ($5::TEXT[])
  AND (concurrency_key IS NULL OR concurrency_key <> ALL ($7::TEXT[]))
  AND (rate_limits IS NULL OR NOT (rate_limits::JSONB ?| $8::TEXT[]))
ORDER BY priority DESC, id
LIMIT $6
