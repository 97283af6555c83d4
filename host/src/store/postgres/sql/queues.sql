-- Every non-empty queue: its length and its oldest item's age (µs, by the database's clock,
-- which stamped the items).
SELECT queue, count(*) AS length, wasmpool_now() - min(put_at) AS oldest_age
FROM queue_items GROUP BY queue ORDER BY queue
