-- Deletes limit ?1 (a stored name).
DELETE FROM rate_limits WHERE name = ?1
