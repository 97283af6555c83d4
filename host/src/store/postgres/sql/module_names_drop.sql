-- Drops tenant $1's names of module $2: the default tenant's names hold no `:`, another
-- tenant's start with `TENANT:`.
DELETE FROM module_names
WHERE hash = $2
  AND CASE WHEN $1 = 'default' THEN strpos(name, ':') = 0
           ELSE substr(name, 1, length($1) + 1) = $1 || ':' END
