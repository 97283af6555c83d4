-- Those of the limits $1 (stored names) that exist.
SELECT name FROM rate_limits WHERE name = ANY ($1::TEXT[])
