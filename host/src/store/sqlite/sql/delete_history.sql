-- The attempt histories of the jobs a bulk delete is about to delete (as in `delete.sql`).
DELETE FROM attempts WHERE job_id IN (SELECT id FROM jobs WHERE state = ?1 AND {filter})
