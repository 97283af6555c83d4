-- Capped modules (by hash, the order their locks are taken in), each with its cap and
-- whether it has room for another running job as this statement sees it. A module without
-- room needs no lock: a claim takes none of its jobs.
SELECT m.hash, m.max_running,
       m.max_running > (SELECT count(*) FROM jobs r
                        WHERE r.state = 'running' AND r.module_hash = m.hash) AS has_room
FROM modules m
WHERE m.max_running IS NOT NULL
ORDER BY m.hash
