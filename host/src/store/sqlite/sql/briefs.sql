-- What the dashboard shows of jobs ?1 (a JSON array of ids).
SELECT j.id, j.name, j.module_hash,
       (SELECT min(n.name) FROM module_names n WHERE n.hash = j.module_hash) AS module_name,
       j.timeout_ms, j.progress_percent, j.progress_message, j.tenant
FROM jobs j
WHERE j.id IN (SELECT value FROM json_each(?1))
