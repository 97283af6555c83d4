-- Tenant ?1's queued jobs (`jobs_queued_by_tenant`; never asked for the default tenant).
SELECT count(*) FROM jobs WHERE tenant = ?1 AND state = 'queued' AND tenant <> 'default'
