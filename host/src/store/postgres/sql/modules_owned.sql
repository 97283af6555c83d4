-- The hashes of the modules tenant $1 owns.
SELECT hash FROM module_owners WHERE tenant = $1
