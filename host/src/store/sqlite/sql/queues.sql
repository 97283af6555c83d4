-- Every non-empty queue: its length and when its oldest item was put.
SELECT queue, count(*) AS length, min(put_at) AS oldest
FROM queue_items GROUP BY queue ORDER BY queue
