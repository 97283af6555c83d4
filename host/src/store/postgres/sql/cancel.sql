-- Cancels jobs: the ones `{where}` selects (one by id, or a bulk cancel's filter), returning
-- them. A running job's host hears of it (the notification, else its next heartbeat) and
-- stops the attempt, whose late result then changes nothing. A running job of a capped module
-- frees a slot of its module's cap (`capped`).
UPDATE jobs SET state = 'cancelled', finished_at = wasmpool_now(), error = 'cancelled'
WHERE {where}
RETURNING id,
    EXISTS (SELECT 1 FROM modules m WHERE m.hash = jobs.module_hash AND m.max_running IS NOT NULL)
        AS capped
