-- How many jobs `{filter}` selects (a bulk action's `matched`).
SELECT count(*) FROM jobs WHERE {filter}
