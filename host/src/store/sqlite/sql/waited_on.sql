-- A child of job ?1 that has not ended (it runs after ?1, or will read its result), if any:
-- while there is one, ?1 is not deleted.
SELECT e.child_id FROM job_edges e JOIN jobs c ON c.id = e.child_id
WHERE e.parent_id = ?1 AND c.state IN ('waiting', 'queued', 'running')
LIMIT 1
