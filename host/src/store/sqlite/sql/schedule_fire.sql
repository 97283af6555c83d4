-- Lets tick ?1 of schedule ?4 through at ?2: the row moves to the tick only if it has not
-- handled it or a later one, the schedule is still as the host read it, and the tick has
-- come. ?3 is the error to record, if any; ?8 the ticks before this one the host skipped.
UPDATE schedules SET last_tick = ?1, last_run_at = ?2, last_job_id = NULL, last_error = ?3,
    ticks_skipped = ticks_skipped + ?8
WHERE name = ?4 AND cron = ?5 AND timezone = ?6 AND job = ?7 AND enabled
  AND active_since < ?1 AND (last_tick IS NULL OR last_tick < ?1) AND ?1 <= ?2
