-- Writes back the buckets a claim took tokens of: limits $1, their tokens $2 as of $3 (µs).
UPDATE rate_limits r SET tokens = v.tokens, refilled_at = v.refilled_at
FROM UNNEST($1::TEXT[], $2::DOUBLE PRECISION[], $3::BIGINT[]) AS v (name, tokens, refilled_at)
WHERE r.name = v.name
