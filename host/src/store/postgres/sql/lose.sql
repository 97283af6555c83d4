-- Declares lost every alive node whose heartbeat is older than the lease ($1 µs), by the
-- database's clock. A database restart counts as a heartbeat (nobody could beat while it was
-- down). The row lock makes exactly one rescuer win each node: a concurrent rescuer waits,
-- sees the state no longer 'alive', and skips it.
UPDATE nodes SET state = 'lost'
WHERE state = 'alive'
  AND greatest(heartbeat_at, pg_postmaster_start_time()) < now() - make_interval(secs => $1 / 1e6)
RETURNING id, name
