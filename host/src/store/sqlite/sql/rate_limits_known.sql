-- Those of the limits ?1 (a JSON array of stored names) that exist.
SELECT name FROM rate_limits WHERE name IN (SELECT value FROM json_each(?1))
