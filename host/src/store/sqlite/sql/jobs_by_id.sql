-- Jobs ?1 (a JSON array of ids), every column.
SELECT * FROM jobs WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id
