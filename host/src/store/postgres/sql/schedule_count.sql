-- How many schedules there are.
SELECT count(*) FROM schedules
