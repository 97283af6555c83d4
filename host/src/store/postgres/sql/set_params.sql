-- Job $1's call parameters become $2 (its parents' results, in `after` order, as it is
-- queued).
UPDATE jobs SET call_params = $2 WHERE id = $1
