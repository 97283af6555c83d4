-- Job ?1, every column.
SELECT * FROM jobs WHERE id = ?1
