-- Deletes job ?1 (its history goes with delete_job_history.sql).
DELETE FROM jobs WHERE id = ?1
