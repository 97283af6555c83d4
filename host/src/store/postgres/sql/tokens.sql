-- Every token, oldest first; only tenant $1's unless $1 is NULL.
SELECT id, tenant, scope, created_at, expires_at, revoked_at
FROM tokens
WHERE $1::TEXT IS NULL OR tenant = $1
ORDER BY id
