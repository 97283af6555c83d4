-- Tenant ?1 gives up module ?2 (which other tenants still own).
DELETE FROM module_owners WHERE tenant = ?1 AND hash = ?2
