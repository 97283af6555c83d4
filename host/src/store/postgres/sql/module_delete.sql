-- Deletes module $1 (its names go with it).
DELETE FROM modules WHERE hash = $1
