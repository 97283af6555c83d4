-- Cancels jobs at time ?1: the ones `{where}` selects (one by id, or a bulk cancel's filter),
-- returning them. A running job of a capped module frees a slot of its module's cap (`capped`).
UPDATE jobs SET state = 'cancelled', finished_at = ?1, error = 'cancelled'
WHERE {where}
RETURNING id, (SELECT max_running IS NOT NULL FROM modules WHERE hash = jobs.module_hash) AS capped
