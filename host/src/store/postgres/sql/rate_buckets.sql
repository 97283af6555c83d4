-- Every rate limit's bucket, and the database's time, for a claim (after its gate lock).
SELECT name, per, window_us, burst, tokens, refilled_at, wasmpool_now() AS now FROM rate_limits
