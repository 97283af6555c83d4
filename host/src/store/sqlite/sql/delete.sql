-- Deletes the ended jobs a bulk delete selects (`{where}`: `?1` the state, the filter's
-- conditions after it), returning them. Their attempt histories go first, in the same
-- transaction (`delete_history.sql`).
DELETE FROM jobs WHERE {where} RETURNING id
