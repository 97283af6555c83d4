-- Takes the oldest item of a queue; concurrent takers skip each other's item.
DELETE FROM queue_items
WHERE id = (SELECT id FROM queue_items WHERE queue = $1 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id, item
