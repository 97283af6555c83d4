-- This transaction's commit need not wait for the WAL to reach the disk: what it writes is
-- the host's own bookkeeping (a heartbeat, claims and results), lost at worst with the last
-- moments before a database crash and then redone.
SET LOCAL synchronous_commit = off
