-- Records when claimed attempts reached a worker ({values}: rows of id, started_at, attempt).
UPDATE jobs SET started_at = v.column2 FROM (VALUES {values}) AS v
WHERE jobs.id = v.column1 AND jobs.state = 'running' AND jobs.started_at IS NULL
    AND jobs.attempts = v.column3
