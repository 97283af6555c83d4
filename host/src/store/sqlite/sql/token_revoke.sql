-- Revokes token ?1 at ?2 (µs), keeping an earlier revocation; only tenant ?3's unless ?3 is
-- NULL.
UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?2)
WHERE id = ?1 AND (?3 IS NULL OR tenant = ?3)
