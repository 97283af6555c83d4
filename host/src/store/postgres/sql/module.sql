-- The module whose hash or name is $1, with its names as a JSON array.
SELECT m.hash, m.kind, m.size, m.created_at, m.max_running, m.exports,
       (SELECT coalesce(json_agg(n.name), '[]')::TEXT FROM module_names n WHERE n.hash = m.hash)
           AS names
FROM modules m
WHERE m.hash = $1 OR m.hash = (SELECT hash FROM module_names WHERE name = $1)
