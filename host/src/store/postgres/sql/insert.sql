-- Inserts a batch of jobs without idempotency keys, in order; their ids rise in that order.
-- A workflow's job may start `waiting` (its parents not yet ended: waiting_on), or already
-- ended (a parent had failed: error set, finished at once).
INSERT INTO jobs (name, module_hash, args, env, stdin, priority, timeout_ms, memory_mb, fuel,
                  max_attempts, state, not_before, submitted_at, argv0, job_env, module_name,
                  lane, call_function, call_params, workflow_id, waiting_on, on_parent_failure,
                  error, finished_at, stdin_from_parents, mounts, tenant, concurrency_key,
                  concurrency_limit, rate_limits)
SELECT v.name, v.module_hash, v.args, v.env, v.stdin, v.priority, v.timeout_ms, v.memory_mb,
       v.fuel, v.max_attempts, v.state, now_us + v.delay_us, now_us, v.argv0, v.job_env,
       v.module_name, v.lane, v.call_function, v.call_params, v.workflow_id, v.waiting_on,
       v.on_parent_failure, v.error,
       CASE WHEN v.state IN ('cancelled', 'skipped') THEN now_us END, v.stdin_from_parents, v.mounts,
       v.tenant, v.concurrency_key, v.concurrency_limit, v.rate_limits
FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BYTEA[], $6::BIGINT[],
            $7::BIGINT[], $8::BIGINT[], $9::BIGINT[], $10::BIGINT[], $11::BIGINT[],
            $12::TEXT[], $13::BOOLEAN[], $14::TEXT[], $15::TEXT[], $16::TEXT[], $17::TEXT[],
            $18::TEXT[], $19::BIGINT[], $20::BIGINT[], $21::TEXT[], $22::TEXT[], $23::BOOLEAN[],
            $24::TEXT[], $25::TEXT[], $26::TEXT[], $27::BIGINT[],
            $28::TEXT[])
         WITH ORDINALITY
         AS v (name, module_hash, args, env, stdin, priority, timeout_ms, memory_mb, fuel,
               max_attempts, delay_us, argv0, job_env, module_name, lane, call_function,
               call_params, state, workflow_id, waiting_on, on_parent_failure, error,
               stdin_from_parents, mounts, tenant, concurrency_key, concurrency_limit,
               rate_limits, ord),
     (SELECT wasmpool_now() AS now_us) AS clock
ORDER BY v.ord
RETURNING id
