-- The running jobs, counted per tenant, module and concurrency key (a walk of the running
-- rows only), in a snapshot taken after the gated claim holds its locks.
SELECT tenant, module_hash, concurrency_key, count(*) FROM jobs
WHERE state = 'running'
GROUP BY tenant, module_hash, concurrency_key
