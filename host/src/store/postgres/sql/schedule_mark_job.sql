-- Marks job $3 as made by schedule $1 for tick $2, and records it on the schedule.
WITH marked AS (UPDATE jobs SET schedule = $1, schedule_tick = $2 WHERE id = $3)
UPDATE schedules SET last_job_id = $3 WHERE name = $1
