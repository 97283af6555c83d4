-- Whether tenant $1 owns module $2.
SELECT 1 FROM module_owners WHERE tenant = $1 AND hash = $2
