-- Workflows: jobs that run after other jobs. Two new states (`waiting`, `skipped`) need the
-- state CHECK rewritten, which SQLite can only do by rebuilding the table (its documented
-- twelve steps: nothing references `jobs`, so no foreign key is involved). The AUTOINCREMENT
-- sequence is carried over, so an id is never handed out twice. The copy names every column
-- `jobs` has after 0012 (mounts): a migration applied before this one that adds a column to `jobs`
-- must add it to `jobs_new` and to the copy below too, or the rebuild drops it.
CREATE TABLE jobs_new (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT,
    module_hash       TEXT NOT NULL,
    args              TEXT NOT NULL,        -- JSON array of strings
    env               TEXT NOT NULL,        -- JSON object of strings
    stdin             BLOB NOT NULL,
    priority          INTEGER NOT NULL,
    timeout_ms        INTEGER NOT NULL,
    memory_mb         INTEGER NOT NULL,
    fuel              INTEGER,
    max_attempts      INTEGER NOT NULL,
    idempotency_key   TEXT UNIQUE,
    state             TEXT NOT NULL CHECK (state IN
                        ('waiting', 'queued', 'running', 'succeeded', 'failed', 'timed_out',
                         'cancelled', 'skipped')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    not_before        INTEGER NOT NULL,     -- µs; a queued job is not claimed before this
    submitted_at      INTEGER NOT NULL,
    started_at        INTEGER,
    finished_at       INTEGER,
    worker_pid        INTEGER,
    exit_code         INTEGER,
    stdout            BLOB,
    stderr            BLOB,
    stdout_truncated  INTEGER NOT NULL DEFAULT 0,
    stderr_truncated  INTEGER NOT NULL DEFAULT 0,
    error             TEXT,
    fuel_used         INTEGER,
    peak_memory_bytes INTEGER,
    progress_percent  INTEGER,
    progress_message  TEXT,
    node              TEXT,
    node_id           INTEGER,
    argv0             TEXT,
    job_env           INTEGER NOT NULL DEFAULT 0,
    module_name       TEXT,
    lane              TEXT NOT NULL DEFAULT 'default',
    schedule          TEXT,
    schedule_tick     INTEGER,
    call_function     TEXT,
    call_params       TEXT,
    call_result       TEXT,
    mounts            TEXT,
    workflow_id       INTEGER,              -- the workflow the job belongs to
    waiting_on        INTEGER NOT NULL DEFAULT 0, -- parents not yet ended (while waiting)
    on_parent_failure TEXT,                 -- cancel | run | skip (NULL outside a workflow)
    stdin_from_parents INTEGER NOT NULL DEFAULT 0 -- stdin: the parents' results, as JSON
);
INSERT INTO jobs_new (id, name, module_hash, args, env, stdin, priority, timeout_ms, memory_mb,
    fuel, max_attempts, idempotency_key, state, attempts, not_before, submitted_at, started_at,
    finished_at, worker_pid, exit_code, stdout, stderr, stdout_truncated, stderr_truncated,
    error, fuel_used, peak_memory_bytes, progress_percent, progress_message, node, node_id,
    argv0, job_env, module_name, lane, schedule, schedule_tick, call_function, call_params,
    call_result, mounts)
SELECT id, name, module_hash, args, env, stdin, priority, timeout_ms, memory_mb,
    fuel, max_attempts, idempotency_key, state, attempts, not_before, submitted_at, started_at,
    finished_at, worker_pid, exit_code, stdout, stderr, stdout_truncated, stderr_truncated,
    error, fuel_used, peak_memory_bytes, progress_percent, progress_message, node, node_id,
    argv0, job_env, module_name, lane, schedule, schedule_tick, call_function, call_params,
    call_result, mounts
FROM jobs;
UPDATE sqlite_sequence
SET seq = max(seq, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'jobs'), 0))
WHERE name = 'jobs_new';
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE INDEX jobs_by_state ON jobs (state, id);
CREATE INDEX jobs_by_module ON jobs (module_hash);
CREATE INDEX jobs_queue ON jobs (lane, priority DESC, id) WHERE state = 'queued';
CREATE INDEX jobs_due ON jobs (lane, not_before) WHERE state = 'queued';
CREATE INDEX jobs_by_schedule ON jobs (schedule, id) WHERE schedule IS NOT NULL;
CREATE INDEX jobs_by_submission ON jobs (submitted_at);
CREATE INDEX jobs_by_finish ON jobs (finished_at, state) WHERE finished_at IS NOT NULL;
CREATE INDEX jobs_runs ON jobs (module_hash, state, finished_at, started_at)
    WHERE finished_at IS NOT NULL;
CREATE INDEX jobs_by_workflow ON jobs (workflow_id, id) WHERE workflow_id IS NOT NULL;

CREATE TABLE workflows (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at INTEGER NOT NULL
);

-- One row per parent–child pair: a parent's end finds its children by the key, a child's
-- parents (a workflow's retry, its view) by `job_edges_child`.
CREATE TABLE job_edges (
    parent_id INTEGER NOT NULL,
    child_id  INTEGER NOT NULL,
    PRIMARY KEY (parent_id, child_id)
) WITHOUT ROWID;
CREATE INDEX job_edges_child ON job_edges (child_id, parent_id);
