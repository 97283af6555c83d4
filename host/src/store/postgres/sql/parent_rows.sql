-- The existing jobs a submission names as parents ($1: their ids), locked in id order until
-- it commits (their end, which releases children, and their deletion wait for it, and then
-- see its edges): state, workflow, name and error.
SELECT id, state, workflow_id, name, error FROM jobs
WHERE id = ANY($1::BIGINT[])
ORDER BY id
FOR UPDATE
