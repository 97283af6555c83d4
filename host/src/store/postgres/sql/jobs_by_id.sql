-- Jobs $1, every column.
SELECT * FROM jobs WHERE id = ANY($1::BIGINT[]) ORDER BY id
