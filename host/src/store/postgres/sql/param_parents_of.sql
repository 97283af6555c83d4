-- The parents job $1 takes its call's parameters from (a JSON array of ids, `after` order).
SELECT params_from_parents FROM jobs WHERE id = $1
