-- Writes back a bucket a claim took tokens of: ?2 tokens as of ?3 (µs), limit ?1.
UPDATE rate_limits SET tokens = ?2, refilled_at = ?3 WHERE name = ?1
