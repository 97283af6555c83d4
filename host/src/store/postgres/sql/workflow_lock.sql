-- Locks workflow $1's jobs in id order before its retry: a parent ending meanwhile commits
-- first, and the retry's statements (each with a snapshot of its own) then see it ended.
SELECT id FROM jobs WHERE workflow_id = $1 ORDER BY id FOR UPDATE
