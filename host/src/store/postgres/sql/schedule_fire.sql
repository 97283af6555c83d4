-- Lets one host through for tick $1 of schedule $2: the row moves to the tick only if no host
-- has handled it or a later one, the schedule is still as that host read it, and the tick has
-- come by the database's clock. Concurrent hosts serialise on the row lock; the others find
-- last_tick already moved and update nothing. $6 is the error to record, if any; $7 the ticks
-- before this one that host skipped.
UPDATE schedules SET last_tick = $1, last_run_at = wasmpool_now(), last_job_id = NULL,
    last_error = $6, ticks_skipped = ticks_skipped + $7
WHERE name = $2 AND cron = $3 AND timezone = $4 AND job = $5 AND enabled
  AND active_since < $1 AND (last_tick IS NULL OR last_tick < $1) AND $1 <= wasmpool_now()
