-- The oldest items of queue `$1`, at most `$2`, without taking them: each its id, size in
-- bytes, first `$3` bytes and how long it has waited (µs, by the database's clock, which
-- stamped it).
SELECT id, coalesce(octet_length(item), 0)::BIGINT, coalesce(substring(item FROM 1 FOR $3), ''::BYTEA),
       wasmpool_now() - put_at
FROM queue_items WHERE queue = $1 ORDER BY id LIMIT $2
