-- Workflow ?1's row.
SELECT id, created_at FROM workflows WHERE id = ?1
