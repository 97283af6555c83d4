-- Every rate limit's bucket, for a claim.
SELECT name, per, window_us, burst, tokens, refilled_at FROM rate_limits
