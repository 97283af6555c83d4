-- Schedule ?2's last tick made job ?1.
UPDATE schedules SET last_job_id = ?1 WHERE name = ?2
