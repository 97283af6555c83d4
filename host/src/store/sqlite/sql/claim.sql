-- Claims the first ?4 due jobs of lane ?2 (at time ?3) for node ?1, highest priority then
-- oldest first, counting an attempt: the claim of a store with no capped module (jobs with
-- a concurrency key or rate limits are the gated claim's). INDEXED BY:
-- the planner otherwise picked the state index and sorted every queued row.
UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = NULL,
    finished_at = NULL, worker_pid = NULL, node = ?1, node_id = 0
WHERE state = 'queued' AND id IN (
    SELECT id FROM jobs INDEXED BY jobs_queue
    WHERE lane = ?2 AND state = 'queued' AND not_before <= ?3
      AND concurrency_key IS NULL AND rate_limits IS NULL
    ORDER BY priority DESC, id LIMIT ?4
)
RETURNING *
