-- Claims the jobs ?2 (a JSON array of ids, chosen by claim_uncapped.sql and
-- claim_module.sql, or by the gated walk, gate_candidates.sql) for node ?1, counting an
-- attempt: the claim while some module is capped or some tenant has a running quota.
UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = NULL,
    finished_at = NULL, worker_pid = NULL, node = ?1, node_id = 0
WHERE state = 'queued' AND id IN (SELECT value FROM json_each(?2))
RETURNING *
