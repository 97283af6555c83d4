-- The running jobs, counted per tenant, module and concurrency key (a walk of the running
-- rows only).
SELECT tenant, module_hash, concurrency_key, count(*) FROM jobs INDEXED BY jobs_by_state
WHERE state = 'running'
GROUP BY tenant, module_hash, concurrency_key
