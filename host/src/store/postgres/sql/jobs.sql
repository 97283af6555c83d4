-- A page of jobs, newest first, as a listing shows them: at most $1, of those `{filter}`
-- selects (its conditions, placeholders from $2 on; see store/filter.rs). Never the input or
-- output: their sizes, and the first 1,024 characters of the arguments (as JSON) and of the
-- error (summary.rs decodes it; octet_length reads a TOASTed value's size, not the value).
SELECT id, name, module_hash, module_name, priority, state, attempts, max_attempts,
       timeout_ms, not_before, submitted_at, started_at, finished_at, worker_pid, exit_code,
       stdout_truncated, stderr_truncated, progress_percent, progress_message, node, schedule,
       schedule_tick, lane, workflow_id,
       left(args, 1024) AS args_head, char_length(args) AS args_length,
       left(error, 1024) AS error_head,
       call_function, left(call_params, 256) AS call_params_head,
       octet_length(stdout) AS stdout_bytes, octet_length(stderr) AS stderr_bytes
FROM jobs
WHERE {filter}
ORDER BY id DESC
LIMIT $1
