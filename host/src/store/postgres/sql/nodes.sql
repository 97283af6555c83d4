-- The newest incarnation of every host name (times as µs since the epoch).
SELECT DISTINCT ON (name) id, name, address, version, workers, busy, pool, state,
       (extract(epoch FROM started_at) * 1000000)::BIGINT AS started_at,
       (extract(epoch FROM heartbeat_at) * 1000000)::BIGINT AS heartbeat_at
FROM nodes
ORDER BY name, id DESC
