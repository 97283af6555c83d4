-- Jobs ended per bucket of $2 µs from $1 until $3: succeeded, and failed or timed out.
SELECT (finished_at - $1) / $2 AS bucket,
       count(*) FILTER (WHERE state = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE state IN ('failed', 'timed_out')) AS failed
FROM jobs
WHERE finished_at >= $1 AND finished_at < $3
GROUP BY bucket
