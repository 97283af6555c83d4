-- Whether module ?1 is stored.
SELECT 1 FROM modules WHERE hash = ?1
