-- Tenant $1's limits (stored names: bare for the default tenant, `TENANT:name` for another),
-- each with how many queued jobs use it and the ids of the first ten (a JSON array), walking
-- the queued jobs with a key or limits.
SELECT r.name, r.per, r.window_us, r.burst, r.tokens, r.refilled_at,
       (SELECT count(*) FROM jobs j
        WHERE j.state = 'queued'
          AND (j.concurrency_key IS NOT NULL OR j.rate_limits IS NOT NULL)
          AND j.rate_limits::JSONB ? r.name) AS waiting,
       (SELECT coalesce(json_agg(w.id), '[]')::TEXT FROM (
            SELECT j.id FROM jobs j
            WHERE j.state = 'queued'
              AND (j.concurrency_key IS NOT NULL OR j.rate_limits IS NOT NULL)
              AND j.rate_limits::JSONB ? r.name
            ORDER BY j.id LIMIT 10) AS w) AS first_waiting
FROM rate_limits r
WHERE CASE WHEN $1 = 'default' THEN strpos(r.name, ':') = 0
           ELSE left(r.name, length($1) + 1) = $1 || ':' END
