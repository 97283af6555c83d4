-- Schedules: a job request made into a job at every tick of a cron expression. Every host
-- evaluates every schedule and the database arbitrates: `last_tick` only moves forward, and
-- a host makes a tick's job only in the transaction whose `UPDATE … WHERE last_tick < tick`
-- changed the row, so exactly one host makes each tick's job. Times are µs since the Unix
-- epoch by the database's clock (wasmpool_now).
CREATE TABLE schedules (
    name          TEXT PRIMARY KEY,
    cron          TEXT NOT NULL,
    timezone      TEXT NOT NULL,
    job           TEXT NOT NULL,                -- the job request, JSON
    enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    catch_up      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL,
    -- Ticks at or before this are never made: set at creation, at resume and when the cron
    -- or timezone changes, so a paused or re-timed schedule does not fire for the past.
    active_since  BIGINT NOT NULL,
    last_tick     BIGINT,                       -- the latest tick handled (job made or failed)
    last_run_at   BIGINT,                       -- when it was handled
    last_job_id   BIGINT,                       -- the job it made (NULL when it failed)
    last_error    TEXT                          -- why it made none (module deleted, …)
);

-- Jobs made by a schedule name it, and the tick they were made for.
ALTER TABLE jobs
    ADD COLUMN schedule TEXT,
    ADD COLUMN schedule_tick BIGINT;
CREATE INDEX jobs_by_schedule ON jobs (schedule, id) WHERE schedule IS NOT NULL;
