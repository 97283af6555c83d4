-- Sets limit $1 (a stored name): $2 starts every $3 µs, burst $4; a new one starts full, a
-- changed one keeps its tokens up to its new burst.
INSERT INTO rate_limits (name, per, window_us, burst, tokens, refilled_at)
VALUES ($1, $2, $3, $4, $4, wasmpool_now())
ON CONFLICT (name) DO UPDATE SET per = excluded.per, window_us = excluded.window_us,
    burst = excluded.burst, tokens = least(rate_limits.tokens, excluded.burst)
