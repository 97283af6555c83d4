-- Module $1's bytes.
SELECT bytes FROM modules WHERE hash = $1
