-- Takes the oldest item of queue ?1.
DELETE FROM queue_items WHERE id = (SELECT id FROM queue_items WHERE queue = ?1 ORDER BY id LIMIT 1)
RETURNING id, item
