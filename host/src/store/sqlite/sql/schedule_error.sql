-- Records why schedule ?2's tick made no job.
UPDATE schedules SET last_error = ?1 WHERE name = ?2
