-- Job $1's stdin becomes $2 (its parents' results, as it is queued).
UPDATE jobs SET stdin = $2 WHERE id = $1
