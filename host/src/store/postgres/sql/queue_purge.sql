-- Removes every item of queue $1.
DELETE FROM queue_items WHERE queue = $1
