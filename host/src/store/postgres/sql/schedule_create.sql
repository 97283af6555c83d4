-- Creates a schedule, active from now by the database's clock; no row when the name is taken.
INSERT INTO schedules (name, cron, timezone, job, enabled, catch_up, created_at, active_since)
SELECT $1, $2, $3, $4, $5, $6, now_us, now_us FROM (SELECT wasmpool_now() AS now_us) AS clock
ON CONFLICT (name) DO NOTHING
RETURNING *
