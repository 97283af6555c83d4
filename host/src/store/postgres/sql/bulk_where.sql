-- The `{where}` of a bulk cancel or retry (cancel.sql, retry.sql): the jobs in state $1 that
-- `{filter}` selects, locked in id order, so two bulk changes wait for each other instead of
-- deadlocking.
id IN (SELECT id FROM jobs WHERE state = $1 AND {filter} ORDER BY id FOR UPDATE)
