-- Per module: its runs (jobs ended succeeded, failed or timed out), how many succeeded, the
-- nearest-rank p50 and p95 of the run times (µs) of those that started on a worker
-- (percentile_disc), and its latest failure.
WITH per_module AS (
    SELECT module_hash, count(*) AS runs,
           count(*) FILTER (WHERE state = 'succeeded') AS succeeded,
           percentile_disc(0.5) WITHIN GROUP (ORDER BY finished_at - started_at) AS p50,
           percentile_disc(0.95) WITHIN GROUP (ORDER BY finished_at - started_at) AS p95
    FROM jobs
    WHERE finished_at IS NOT NULL AND state IN ('succeeded', 'failed', 'timed_out')
    GROUP BY module_hash
), last_failure AS (
    SELECT DISTINCT ON (module_hash) module_hash, id, error, finished_at
    FROM jobs
    WHERE finished_at IS NOT NULL AND state IN ('failed', 'timed_out')
    ORDER BY module_hash, finished_at DESC, id DESC
)
SELECT m.module_hash, m.runs, m.succeeded, m.p50, m.p95,
       f.id AS last_failed_id, f.error AS last_error, f.finished_at AS last_failed_at
FROM per_module m LEFT JOIN last_failure f USING (module_hash)
