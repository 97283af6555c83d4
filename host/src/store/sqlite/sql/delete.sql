-- Deletes the ended jobs in state ?1 that a bulk delete's `{filter}` selects (its conditions,
-- placeholders from ?2 on), returning them. Their attempt histories go first, in the same
-- transaction (`delete_history.sql`).
DELETE FROM jobs WHERE state = ?1 AND {filter} RETURNING id
