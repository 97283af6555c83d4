-- Every ended attempt of a job, oldest first: written by the transaction that records the
-- attempt's end (only the current attempt's: a stale or cancelled attempt writes nothing),
-- removed with the job. Keyed by (job, attempt) without a rowid: one b-tree, appended to in
-- job order, so the row costs the hot path one insert.
CREATE TABLE attempts (
    job_id       INTEGER NOT NULL,
    attempt      INTEGER NOT NULL,
    node         TEXT,
    worker_pid   INTEGER,
    started_at   INTEGER NOT NULL,          -- µs since the Unix epoch
    finished_at  INTEGER NOT NULL,
    state        TEXT NOT NULL,             -- how the attempt ended
    exit_code    INTEGER,
    error        TEXT,
    PRIMARY KEY (job_id, attempt)
) WITHOUT ROWID;

-- The list filters by submission time (`submitted_after`, `submitted_before`) read the
-- range from here instead of every row; written once, at submission.
CREATE INDEX jobs_by_submission ON jobs (submitted_at);
