-- Flow control per tenant (issue 23): most jobs running at once across hosts, most bytes of
-- modules owned (NULL: none).
ALTER TABLE tenants ADD COLUMN max_running INTEGER;
ALTER TABLE tenants ADD COLUMN max_module_bytes INTEGER;

-- Concurrency keys: a job with a key runs only while fewer than its limit of the jobs with
-- that key (its tenant's: stored as `TENANT:key` for a tenant other than the default one)
-- run. Rate limits: a job naming limits (a JSON array of their stored names) starts only
-- with a token of each. A lane's queued jobs with either are found by one probe of their
-- own index, so a claim of a lane without any needs no gate.
ALTER TABLE jobs ADD COLUMN concurrency_key TEXT;
ALTER TABLE jobs ADD COLUMN concurrency_limit INTEGER;
ALTER TABLE jobs ADD COLUMN rate_limits TEXT;
CREATE INDEX jobs_gated ON jobs (lane)
WHERE state = 'queued' AND (concurrency_key IS NOT NULL OR rate_limits IS NOT NULL);

-- Named rate limits (`TENANT:name` as names are): `per` starts every `window_us`, a token
-- bucket of `burst` tokens refilled continuously; `tokens` as of `refilled_at` (µs), written
-- by the claims that take tokens.
CREATE TABLE rate_limits (
    name        TEXT PRIMARY KEY,
    per         INTEGER NOT NULL,
    window_us   INTEGER NOT NULL,
    burst       INTEGER NOT NULL,
    tokens      REAL NOT NULL,
    refilled_at INTEGER NOT NULL
);

-- Fair shares: a tenant's weight (NULL: 1), and each lane's queued jobs per tenant in queue
-- order, which the fair claim reads a page of per tenant (and which tells, in two probes,
-- whether more than one tenant has queued jobs in a lane).
ALTER TABLE tenants ADD COLUMN weight INTEGER;
CREATE INDEX jobs_fair ON jobs (lane, tenant, priority DESC, id) WHERE state = 'queued';
