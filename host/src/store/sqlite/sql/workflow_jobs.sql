-- Workflow ?1's jobs, in id order.
SELECT id, name, state, on_parent_failure, error FROM jobs WHERE workflow_id = ?1 ORDER BY id
