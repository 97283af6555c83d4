-- The running jobs, counted per tenant and module (a walk of the running rows only).
SELECT tenant, module_hash, count(*) FROM jobs INDEXED BY jobs_by_state
WHERE state = 'running'
GROUP BY tenant, module_hash
