-- Records ended attempts ({values}: rows of the 16 columns below): each row ends its job or
-- queues it again (not_before set). Only the attempt that is current changes anything: same
-- attempt number, still running. Whether the job's module is capped, its tenant has a
-- running quota or it has a concurrency key comes back too: its end frees a slot; whether
-- it belongs to a workflow too: its end may release children (workflows::ended, in the same
-- transaction). The history rows go in with keep_attempts.sql.
UPDATE jobs SET state = v.column2, not_before = coalesce(v.column3, jobs.not_before),
    started_at = v.column4, finished_at = v.column5, worker_pid = v.column6,
    exit_code = v.column7, stdout = v.column8, stderr = v.column9,
    stdout_truncated = v.column10, stderr_truncated = v.column11, error = v.column12,
    fuel_used = v.column13, peak_memory_bytes = v.column14, call_result = v.column16
FROM (VALUES {values}) AS v
WHERE jobs.id = v.column1 AND jobs.state = 'running' AND jobs.attempts = v.column15
RETURNING jobs.id,
    (SELECT max_running IS NOT NULL FROM modules WHERE hash = jobs.module_hash)
        OR EXISTS (SELECT 1 FROM tenants WHERE name = jobs.tenant AND max_running IS NOT NULL)
        OR jobs.concurrency_key IS NOT NULL AS capped,
    jobs.workflow_id IS NOT NULL AS in_workflow
