-- The existing jobs a submission names as parents (?1: a JSON array of ids): state,
-- workflow, name and error. One writer: nothing can end or delete them before it commits.
SELECT id, state, workflow_id, name, error FROM jobs
WHERE id IN (SELECT value FROM json_each(?1))
