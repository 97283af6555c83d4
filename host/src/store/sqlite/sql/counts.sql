-- Jobs per state (read once at open; the writer keeps the counts from there).
SELECT state, count(*) FROM jobs GROUP BY state
