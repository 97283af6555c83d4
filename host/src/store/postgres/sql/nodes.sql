-- The newest incarnation of every host name (times as µs since the epoch). A host that is
-- not alive runs nothing, whatever its last heartbeat said; an alive one that is draining
-- says so.
SELECT DISTINCT ON (name) id, name, address, version, workers,
       CASE WHEN state = 'alive' THEN busy ELSE 0 END AS busy, pool,
       CASE WHEN state = 'alive' AND draining THEN 'draining' ELSE state END AS state,
       (extract(epoch FROM started_at) * 1000000)::BIGINT AS started_at,
       (extract(epoch FROM heartbeat_at) * 1000000)::BIGINT AS heartbeat_at
FROM nodes
ORDER BY name, id DESC
