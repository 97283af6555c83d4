-- A page of workflows, newest first: at most ?1 of those older than ?2, with their jobs
-- counted by state.
SELECT w.id, w.created_at, j.state, count(j.id) AS n
FROM (SELECT id, created_at FROM workflows WHERE id < ?2 ORDER BY id DESC LIMIT ?1) AS w
LEFT JOIN jobs j ON j.workflow_id = w.id
GROUP BY w.id, j.state
ORDER BY w.id DESC
