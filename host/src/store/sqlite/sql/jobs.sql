-- A page of jobs, newest first, as a listing shows them: at most ?1, of those `{filter}`
-- selects (its conditions, placeholders from ?2 on; see store/filter.rs). Never the input or
-- output: their sizes, and the first 1,024 characters of the arguments (as JSON) and of the
-- error (summary.rs decodes it; length() of a blob reads its size, not its bytes).
SELECT id, name, module_hash, module_name, priority, state, attempts, max_attempts,
       timeout_ms, not_before, submitted_at, started_at, finished_at, worker_pid, exit_code,
       stdout_truncated, stderr_truncated, progress_percent, progress_message, node, schedule,
       schedule_tick, lane, workflow_id,
       substr(args, 1, 1024) AS args_head, length(args) AS args_length,
       substr(error, 1, 1024) AS error_head,
       call_function, substr(call_params, 1, 256) AS call_params_head,
       length(stdout) AS stdout_bytes, length(stderr) AS stderr_bytes
FROM jobs
WHERE {filter}
ORDER BY id DESC
LIMIT ?1
