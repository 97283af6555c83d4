-- Flow control per tenant (issue 23): most jobs running at once across hosts, most bytes of
-- modules owned (NULL: none).
ALTER TABLE tenants ADD COLUMN max_running INTEGER;
ALTER TABLE tenants ADD COLUMN max_module_bytes INTEGER;
