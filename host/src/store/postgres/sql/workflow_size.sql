-- Workflow $1's jobs and edges, counted (a submission joining it must stay within the
-- service's maxima).
SELECT (SELECT count(*) FROM jobs WHERE workflow_id = $1),
       (SELECT count(*) FROM job_edges e JOIN jobs c ON c.id = e.child_id
        WHERE c.workflow_id = $1)
