-- Deletes schedule ?1 (the jobs it made stay).
DELETE FROM schedules WHERE name = ?1
