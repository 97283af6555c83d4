-- Existing jobs ($2) that a new workflow's jobs run after, and which belonged to none, join
-- workflow $1.
UPDATE jobs SET workflow_id = $1, on_parent_failure = coalesce(on_parent_failure, 'cancel')
WHERE id = ANY($2::BIGINT[]) AND workflow_id IS NULL
