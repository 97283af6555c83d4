-- Locks module $1's row, so no submission naming it commits between a check and a delete.
SELECT 1 FROM modules WHERE hash = $1 FOR UPDATE
