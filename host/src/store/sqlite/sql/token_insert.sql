-- Stores a token: tenant ?1, scope ?2, the hex SHA-256 of its secret ?3, made at ?4 (µs),
-- lasting ?5 µs (NULL: until revoked).
INSERT INTO tokens (tenant, scope, secret_hash, created_at, expires_at)
VALUES (?1, ?2, ?3, ?4, ?4 + ?5)
RETURNING id, tenant, scope, created_at, expires_at, revoked_at
