-- Changes a schedule (NULL leaves a field as it is). A new cron or time zone, or a resume,
-- starts it afresh at ?7: no tick before then is made.
UPDATE schedules SET
    active_since = CASE
        WHEN coalesce(?2, cron) <> cron OR coalesce(?3, timezone) <> timezone
             OR (coalesce(?5, enabled) AND NOT enabled) THEN ?7
        ELSE active_since END,
    cron = coalesce(?2, cron), timezone = coalesce(?3, timezone), job = coalesce(?4, job),
    enabled = coalesce(?5, enabled), catch_up = coalesce(?6, catch_up)
WHERE name = ?1
RETURNING *
