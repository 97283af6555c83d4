-- Records ended attempts: each row ends its job or queues it again (not_before set), and
-- joins the job's history. Only the attempt that is current changes anything: same attempt
-- number, same node incarnation, still running. A stale host's late result, or one for a job
-- cancelled meanwhile, is ignored and kept out of the history. One statement for both, so
-- the history costs no round trip. Whether the job's module is capped, its tenant has a
-- running quota or it has a concurrency key comes back too: its end frees a slot; whether
-- it belongs to a workflow too: its end may release children (children.sql, in the same
-- transaction).
WITH v AS (
    SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::TEXT[], $5::BIGINT[],
                         $6::BIGINT[], $7::BIGINT[], $8::BIGINT[], $9::BIGINT[], $10::BYTEA[],
                         $11::BYTEA[], $12::BOOLEAN[], $13::BOOLEAN[], $14::TEXT[],
                         $15::BIGINT[], $16::BIGINT[], $17::TEXT[], $18::TEXT[])
        AS v (id, attempt, node_id, state, not_before, started_at, finished_at, worker_pid,
              exit_code, stdout, stderr, stdout_truncated, stderr_truncated, error, fuel_used,
              peak_memory_bytes, ended, call_result)
), updated AS (
    UPDATE jobs j
    SET state = v.state, not_before = coalesce(v.not_before, j.not_before),
        started_at = v.started_at,
        finished_at = CASE WHEN v.not_before IS NULL THEN v.finished_at END,
        worker_pid = v.worker_pid, exit_code = v.exit_code, stdout = v.stdout, stderr = v.stderr,
        stdout_truncated = v.stdout_truncated, stderr_truncated = v.stderr_truncated,
        error = v.error, fuel_used = v.fuel_used, peak_memory_bytes = v.peak_memory_bytes,
        call_result = v.call_result
    FROM v
    WHERE j.id = v.id AND j.state = 'running' AND j.attempts = v.attempt AND j.node_id = v.node_id
    RETURNING j.id, j.state, j.node, j.module_hash, j.tenant, j.concurrency_key, j.workflow_id, v.attempt, v.worker_pid, v.started_at,
              v.finished_at, v.ended, v.exit_code, v.error
), history AS (
    INSERT INTO attempts (job_id, attempt, node, worker_pid, started_at, finished_at, state,
                          exit_code, error)
    SELECT id, attempt, node, worker_pid, started_at, finished_at, ended, exit_code, error
    FROM updated
    ON CONFLICT DO NOTHING
)
SELECT u.id, u.state,
    EXISTS (SELECT 1 FROM modules m WHERE m.hash = u.module_hash AND m.max_running IS NOT NULL)
        OR EXISTS (SELECT 1 FROM tenants t
                   WHERE t.name = u.tenant AND t.max_running IS NOT NULL)
        OR u.concurrency_key IS NOT NULL AS capped,
    u.workflow_id IS NOT NULL AS in_workflow
FROM updated u
