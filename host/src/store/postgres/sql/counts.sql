-- Jobs per state, in the whole cluster.
SELECT state, count(*) FROM jobs GROUP BY state
