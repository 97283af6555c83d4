-- The oldest items of queue `?1`, at most `?2`, without taking them: each its id, size in
-- bytes, first `?3` bytes and when it was put.
-- An empty item reads as NULL here (`substr` of a zero-length blob): it is zero bytes.
SELECT id, coalesce(length(item), 0), coalesce(substr(item, 1, ?3), x''), put_at
FROM queue_items WHERE queue = ?1 ORDER BY id LIMIT ?2
