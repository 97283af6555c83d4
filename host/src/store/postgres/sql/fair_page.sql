-- A page of one tenant's jobs for the fair claim: the first $7 due jobs of tenant $2 in lane
-- $1 after the job at priority $3, id $4 in queue order, leaving out the modules $5 and
-- concurrency keys $6 already full and the jobs of the rate limits $8 whose buckets are
-- empty (through jobs_fair).
SELECT id, priority, tenant, module_hash, concurrency_key, concurrency_limit, rate_limits
FROM jobs
WHERE lane = $1 AND tenant = $2 AND state = 'queued' AND not_before <= wasmpool_now()
  AND (priority < $3 OR (priority = $3 AND id > $4))
  AND module_hash <> ALL ($5::TEXT[])
  AND (concurrency_key IS NULL OR concurrency_key <> ALL ($6::TEXT[]))
  AND (rate_limits IS NULL OR NOT (rate_limits::JSONB ?| $8::TEXT[]))
ORDER BY priority DESC, id
LIMIT $7
