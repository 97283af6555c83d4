-- The token whose secret's hex SHA-256 is ?1 (the `secret_hash` index finds it).
SELECT id, tenant, scope, created_at, expires_at, revoked_at FROM tokens WHERE secret_hash = ?1
