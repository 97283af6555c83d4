-- Inserts a batch of jobs ({values}: one row of 31 per job, in this column order); their ids
-- rise in that order. A workflow's job may start `waiting` (its parents not yet ended:
-- waiting_on), or already ended (a parent had failed: error and finished_at set).
INSERT INTO jobs (name, module_hash, args, env, stdin, priority, timeout_ms, memory_mb, fuel,
                  max_attempts, idempotency_key, state, not_before, submitted_at, argv0,
                  job_env, module_name, lane, call_function, call_params, workflow_id,
                  waiting_on, on_parent_failure, error, finished_at, stdin_from_parents,
                  mounts, tenant, concurrency_key, concurrency_limit, rate_limits)
VALUES {values}
RETURNING id
