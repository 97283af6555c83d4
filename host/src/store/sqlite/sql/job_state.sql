-- The state of job ?1 (the writer is the only one changing it).
SELECT state FROM jobs WHERE id = ?1
