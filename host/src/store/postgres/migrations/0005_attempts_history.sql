-- Every ended attempt of a job, oldest first: written by the statement that records the
-- attempt's end (only the current attempt's: a stale or cancelled attempt writes nothing),
-- removed with the job.
CREATE TABLE attempts (
    job_id       BIGINT NOT NULL,
    attempt      BIGINT NOT NULL,
    node         TEXT,
    worker_pid   BIGINT,
    started_at   BIGINT NOT NULL,
    finished_at  BIGINT NOT NULL,
    state        TEXT NOT NULL,
    exit_code    BIGINT,
    error        TEXT,
    PRIMARY KEY (job_id, attempt)
);

-- A module's jobs newest first (the list filter `module`) come from the index in id order,
-- not a sort of all of them; it serves the in-use check of a module's deletion as the old one did.
DROP INDEX jobs_by_module;
CREATE INDEX jobs_by_module ON jobs (module_hash, id);

-- The list filters by submission time read the range from here; written once, at submission.
CREATE INDEX jobs_by_submission ON jobs (submitted_at);
