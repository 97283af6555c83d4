-- Inserts a batch of jobs ({values}: one row of 22 per job, in this column order); their ids
-- rise in that order.
INSERT INTO jobs (name, module_hash, args, env, stdin, priority, timeout_ms, memory_mb, fuel,
                  max_attempts, idempotency_key, state, not_before, submitted_at, argv0,
                  job_env, module_name, lane, call_function, call_params, mounts, tenant)
VALUES {values}
RETURNING id
