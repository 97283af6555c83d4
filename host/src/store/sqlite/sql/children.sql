-- The children of jobs that just ended (?1: a JSON array of their ids), at time ?2, in the
-- transaction that recorded the ends. Each waiting child counts one parent fewer per parent
-- that ended (one UPDATE for them all, found by job_edges' key: no scan) and is queued when
-- none is left. A parent's failure (it ended failed, timed_out or cancelled) ends a child
-- whose mode is `cancel` (cancelled) or `skip` (skipped) at once, its error naming the
-- parent, or the first failure up the graph when that parent was itself ended by one; a
-- `run` child only counts it. Returns the children changed with their new states: the
-- ended ones' children come next. A child no longer waiting is left alone.
WITH ended AS (
    SELECT id, name, state, error FROM jobs WHERE id IN (SELECT value FROM json_each(?1))
), hits AS (
    SELECT e.child_id AS id, count(*) AS n,
           min(CASE WHEN ended.state NOT IN ('succeeded', 'skipped') THEN ended.id END) AS failed
    FROM job_edges e JOIN ended ON ended.id = e.parent_id
    GROUP BY e.child_id
), why AS (
    SELECT hits.id, hits.n, hits.failed,
        CASE WHEN p.state IN ('cancelled', 'skipped') AND substr(p.error, 1, 11) = 'parent job '
             THEN p.error
             ELSE 'parent job ' || p.id || coalesce(' (`' || p.name || '`)', '') ||
                  CASE p.state WHEN 'timed_out' THEN ' timed out'
                               WHEN 'cancelled' THEN ' was cancelled' ELSE ' failed' END
        END AS error
    FROM hits LEFT JOIN ended p ON p.id = hits.failed
)
UPDATE jobs SET
    waiting_on = jobs.waiting_on - why.n,
    state = CASE
        WHEN why.failed IS NOT NULL AND jobs.on_parent_failure = 'cancel' THEN 'cancelled'
        WHEN why.failed IS NOT NULL AND jobs.on_parent_failure = 'skip' THEN 'skipped'
        WHEN jobs.waiting_on = why.n THEN 'queued'
        ELSE 'waiting' END,
    error = CASE WHEN why.failed IS NOT NULL AND jobs.on_parent_failure <> 'run'
                 THEN why.error END,
    finished_at = CASE WHEN why.failed IS NOT NULL AND jobs.on_parent_failure <> 'run'
                       THEN ?2 END
FROM why
WHERE jobs.id = why.id AND jobs.state = 'waiting'
RETURNING jobs.id, jobs.state, jobs.stdin_from_parents, jobs.params_from_parents IS NOT NULL
