-- Cancels jobs: the ones `{where}` selects (one by id, or a bulk cancel's filter), returning
-- them. A running job's host hears of it (the notification, else its next heartbeat) and
-- stops the attempt, whose late result then changes nothing.
UPDATE jobs SET state = 'cancelled', finished_at = wasmpool_now(), error = 'cancelled'
WHERE {where}
RETURNING id
