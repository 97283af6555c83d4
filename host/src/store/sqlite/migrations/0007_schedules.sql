-- Schedules: a job request made into a job at every tick of a cron expression. Exactly one
-- job per tick: `last_tick` only moves forward, and a host makes a tick's job only in the
-- transaction whose `UPDATE … WHERE last_tick < tick` changed the row (the tick it moved to).
-- Times are µs since the Unix epoch, as everywhere.
CREATE TABLE schedules (
    name          TEXT PRIMARY KEY,
    cron          TEXT NOT NULL,
    timezone      TEXT NOT NULL,
    job           TEXT NOT NULL,                -- the job request, JSON
    enabled       INTEGER NOT NULL DEFAULT 1,
    catch_up      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    -- Ticks at or before this are never made: set at creation, at resume and when the cron
    -- or timezone changes, so a paused or re-timed schedule does not fire for the past.
    active_since  INTEGER NOT NULL,
    last_tick     INTEGER,                      -- the latest tick handled (job made or failed)
    last_run_at   INTEGER,                      -- when it was handled
    last_job_id   INTEGER,                      -- the job it made (NULL when it failed)
    last_error    TEXT                          -- why it made none (module deleted, …)
);

-- Jobs made by a schedule name it, and the tick they were made for.
ALTER TABLE jobs ADD COLUMN schedule TEXT;
ALTER TABLE jobs ADD COLUMN schedule_tick INTEGER;
CREATE INDEX jobs_by_schedule ON jobs (schedule, id) WHERE schedule IS NOT NULL;
