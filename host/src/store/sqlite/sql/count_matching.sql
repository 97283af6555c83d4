-- How many jobs `{filter}` selects, by state: what a bulk action's dry run answers.
SELECT state, count(*) AS n
FROM jobs
WHERE {filter}
GROUP BY state
