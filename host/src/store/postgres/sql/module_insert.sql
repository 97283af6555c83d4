-- Records module $1 (kind $2, $3 bytes $4) unless it is stored already; its bytes are kept,
-- so any host can compile it.
INSERT INTO modules (hash, kind, size, created_at, bytes)
VALUES ($1, $2, $3, wasmpool_now(), $4)
ON CONFLICT (hash) DO NOTHING
