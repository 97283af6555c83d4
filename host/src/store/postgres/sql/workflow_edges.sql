-- Workflow $1's edges, as (parent, child), in child then parent order.
SELECT e.parent_id, e.child_id FROM jobs c JOIN job_edges e ON e.child_id = c.id
WHERE c.workflow_id = $1
ORDER BY e.child_id, e.parent_id
