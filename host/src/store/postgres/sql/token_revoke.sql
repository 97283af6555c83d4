-- Revokes token $1 now, keeping an earlier revocation; only tenant $2's unless $2 is NULL.
UPDATE tokens SET revoked_at = COALESCE(revoked_at, wasmpool_now())
WHERE id = $1 AND ($2::TEXT IS NULL OR tenant = $2)
