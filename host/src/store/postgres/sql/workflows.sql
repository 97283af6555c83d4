-- A page of tenant $3's workflows, newest first: at most $1 of those older than $2, with
-- their jobs counted by state. A workflow is its jobs' tenant's (every job of one workflow is
-- one tenant's: a parent must be the submitter's own job), found by its first job.
SELECT w.id, w.created_at, j.state, count(j.id) AS n
FROM (SELECT id, created_at FROM workflows AS f
      WHERE id < $2
        AND (SELECT tenant FROM jobs WHERE workflow_id = f.id ORDER BY id LIMIT 1) = $3
      ORDER BY id DESC LIMIT $1) AS w
LEFT JOIN jobs j ON j.workflow_id = w.id
GROUP BY w.id, w.created_at, j.state
ORDER BY w.id DESC
