-- Schedule $1.
SELECT * FROM schedules WHERE name = $1
