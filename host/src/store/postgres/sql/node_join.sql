-- A new incarnation of node $1 (address $2, version $3, $4 workers, lanes $5 as JSON
-- {name: workers}), alive. A live host of the same name refuses it (the unique index on
-- the names of alive nodes).
INSERT INTO nodes (name, address, version, workers, lanes, state)
VALUES ($1, $2, $3, $4, $5, 'alive')
RETURNING id
