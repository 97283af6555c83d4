-- The oldest items of queue `?1`, at most `?2`, without taking them: each its id, size in
-- bytes, first `?3` bytes and when it was put.
SELECT id, length(item), substr(item, 1, ?3), put_at
FROM queue_items WHERE queue = ?1 ORDER BY id LIMIT ?2
