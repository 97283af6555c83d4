-- Workflows: jobs that run after other jobs. Two new states, `waiting` and `skipped`.
ALTER TABLE jobs DROP CONSTRAINT jobs_state_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_state_check CHECK (state IN
    ('waiting', 'queued', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled', 'skipped'));
ALTER TABLE jobs ADD COLUMN workflow_id BIGINT;
-- Parents not yet ended, while the job waits: one decrement per parent's end.
ALTER TABLE jobs ADD COLUMN waiting_on BIGINT NOT NULL DEFAULT 0;
-- cancel | run | skip (NULL outside a workflow).
ALTER TABLE jobs ADD COLUMN on_parent_failure TEXT;
-- Its stdin is its parents' results, as JSON keyed by parent name, written when it is queued.
ALTER TABLE jobs ADD COLUMN stdin_from_parents BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX jobs_by_workflow ON jobs (workflow_id, id) WHERE workflow_id IS NOT NULL;

CREATE TABLE workflows (
    id         BIGSERIAL PRIMARY KEY,
    created_at BIGINT NOT NULL
);

-- One row per parent–child pair: a parent's end finds its children by the key, a child's
-- parents (a workflow's retry, its view) by `job_edges_child`.
CREATE TABLE job_edges (
    parent_id BIGINT NOT NULL,
    child_id  BIGINT NOT NULL,
    PRIMARY KEY (parent_id, child_id)
);
CREATE INDEX job_edges_child ON job_edges (child_id, parent_id);
