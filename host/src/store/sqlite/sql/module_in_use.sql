-- How many waiting, queued or running jobs need module ?1.
SELECT count(*) FROM jobs WHERE module_hash = ?1 AND state IN ('waiting', 'queued', 'running')
