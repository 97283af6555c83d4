-- Locks job $1's row and reads its state.
SELECT state FROM jobs WHERE id = $1 FOR UPDATE
