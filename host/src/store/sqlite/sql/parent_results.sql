-- The results of job ?1's parents (for a job whose stdin is its parents' results).
SELECT p.id, p.name, p.state, p.exit_code, p.stdout, p.call_result
FROM job_edges e JOIN jobs p ON p.id = e.parent_id
WHERE e.child_id = ?1
ORDER BY p.id
