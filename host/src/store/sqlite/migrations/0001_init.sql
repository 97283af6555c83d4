-- Modules: content-addressed by the SHA-256 of their bytes.
CREATE TABLE modules (
    hash        TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('module', 'component')),
    size        INTEGER NOT NULL,
    created_at  INTEGER NOT NULL            -- µs since the Unix epoch
);

-- Human names pointing at the latest upload of that name.
CREATE TABLE module_names (
    name        TEXT PRIMARY KEY,
    hash        TEXT NOT NULL REFERENCES modules (hash) ON DELETE CASCADE,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX module_names_by_hash ON module_names (hash);

-- Jobs. Their module hash is kept as text without a foreign key, so that an ended job's
-- history survives the deletion of its module.
CREATE TABLE jobs (
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
                        ('queued', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled')),
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
    peak_memory_bytes INTEGER
);

-- The queue: highest priority first, then oldest first; claims walk it and stop at their
-- limit. And the queued jobs by due time, so finding the next due one is one lookup.
CREATE INDEX jobs_queue ON jobs (priority DESC, id) WHERE state = 'queued';
CREATE INDEX jobs_due ON jobs (not_before) WHERE state = 'queued';
CREATE INDEX jobs_by_state ON jobs (state, id);
CREATE INDEX jobs_by_module ON jobs (module_hash, state);
CREATE INDEX jobs_by_finish ON jobs (finished_at) WHERE finished_at IS NOT NULL;
