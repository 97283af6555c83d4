-- Marks job ?3 as made by schedule ?1 for tick ?2 (schedule_last_job.sql records it on the
-- schedule).
UPDATE jobs SET schedule = ?1, schedule_tick = ?2 WHERE id = ?3
