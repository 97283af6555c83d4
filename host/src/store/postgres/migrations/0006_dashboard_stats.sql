-- What the dashboard reads (store/stats.rs), kept index-only at 100,000s of jobs:
-- jobs ended per time bucket (by finish time, with the state), and per module its runs, their
-- run times and its latest failure (by module, state and finish time, with the start). Both
-- are partial on finished_at, so a job enters them once, when it ends.
DROP INDEX jobs_by_finish;
CREATE INDEX jobs_by_finish ON jobs (finished_at, state) WHERE finished_at IS NOT NULL;
CREATE INDEX jobs_runs ON jobs (module_hash, state, finished_at, started_at)
    WHERE finished_at IS NOT NULL;
