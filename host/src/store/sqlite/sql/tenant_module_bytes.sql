-- The bytes of the modules tenant ?1 owns, each counted whole.
SELECT coalesce(sum(m.size), 0) FROM module_owners o JOIN modules m ON m.hash = o.hash
WHERE o.tenant = ?1
