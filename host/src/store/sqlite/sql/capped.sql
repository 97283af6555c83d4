-- Capped modules, each with how many more of its jobs may run now (its cap less its running
-- jobs, counted over the running rows only). Empty, through the partial index, while no
-- module is capped.
SELECT m.hash, m.max_running - (SELECT count(*) FROM jobs INDEXED BY jobs_by_state
                                WHERE state = 'running' AND module_hash = m.hash)
FROM modules m INDEXED BY modules_capped
WHERE m.max_running IS NOT NULL
