-- Inserts one job with an idempotency key, unless a job with that key exists (then nothing
-- comes back and the caller reads the earlier job).
INSERT INTO jobs (name, module_hash, args, env, stdin, priority, timeout_ms, memory_mb, fuel,
                  max_attempts, idempotency_key, state, not_before, submitted_at, argv0, job_env,
                  module_name, lane, call_function, call_params, mounts, tenant,
                  concurrency_key, concurrency_limit, rate_limits)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'queued', now_us + $12, now_us, $13, $14,
       $15, $16, $17, $18, $19, $20, $21, $22, $23
FROM (SELECT wasmpool_now() AS now_us) AS clock
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id
