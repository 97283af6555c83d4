-- How many items queue $1 holds.
SELECT count(*) FROM queue_items WHERE queue = $1
