-- Jobs ended per bucket of ?2 µs from ?1 until ?3: succeeded, and failed or timed out. A range
-- of the index jobs_by_finish alone.
SELECT (finished_at - ?1) / ?2 AS bucket, sum(state = 'succeeded') AS succeeded,
       sum(state IN ('failed', 'timed_out')) AS failed
FROM jobs INDEXED BY jobs_by_finish
WHERE finished_at >= ?1 AND finished_at < ?3
GROUP BY bucket
