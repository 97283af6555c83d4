-- Stores a token: tenant $1, scope $2, the hex SHA-256 of its secret $3, lasting $4 µs from
-- now (NULL: until revoked).
INSERT INTO tokens (tenant, scope, secret_hash, created_at, expires_at)
SELECT $1, $2, $3, now_us, now_us + $4::BIGINT
FROM (SELECT wasmpool_now() AS now_us) AS clock
RETURNING id, tenant, scope, created_at, expires_at, revoked_at
