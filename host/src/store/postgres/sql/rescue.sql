-- The jobs of lost nodes $1: claimed but never started go back uncounted; started ones are
-- queued again while attempts remain (the attempt counts), else they fail with the reason.
WITH lost AS (
    SELECT j.id, j.started_at IS NULL AS unstarted, j.attempts < j.max_attempts AS retry,
           (extract(epoch FROM n.heartbeat_at) * 1000000)::BIGINT AS last_seen,
           'host ' || n.name || ' was lost ' ||
           CASE WHEN j.attempts < j.max_attempts
                THEN 'during attempt ' || j.attempts || ' of ' || j.max_attempts || '; retrying'
                ELSE 'while the job was running (attempt ' || j.attempts || ' of '
                     || j.max_attempts || ')' END AS reason
    FROM jobs j JOIN nodes n ON n.id = j.node_id
    WHERE j.state = 'running' AND j.node_id = ANY($1::BIGINT[])
    FOR UPDATE OF j
)
UPDATE jobs j
SET state = CASE WHEN lost.unstarted OR lost.retry THEN 'queued' ELSE 'failed' END,
    attempts = CASE WHEN lost.unstarted THEN greatest(j.attempts - 1, 0) ELSE j.attempts END,
    not_before = CASE WHEN lost.unstarted OR lost.retry THEN wasmpool_now() ELSE j.not_before END,
    -- A failed job ended, as far as anyone knows, at its host's last heartbeat: not when
    -- the lease ran out, which would count the lease in its run time.
    finished_at = CASE WHEN lost.unstarted OR lost.retry THEN NULL
                       ELSE greatest(j.started_at, lost.last_seen) END,
    error = CASE WHEN lost.unstarted THEN j.error ELSE lost.reason END,
    worker_pid = NULL, node_id = NULL
FROM lost
WHERE j.id = lost.id
RETURNING j.id, j.state, lost.unstarted
