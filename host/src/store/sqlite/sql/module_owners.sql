-- How many tenants own module ?1.
SELECT count(*) FROM module_owners WHERE hash = ?1
