-- Creates a schedule, active from ?7; no row when the name is taken.
INSERT INTO schedules (name, cron, timezone, job, enabled, catch_up, created_at, active_since)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
ON CONFLICT (name) DO NOTHING
RETURNING *
