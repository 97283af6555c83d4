-- This node is alive: its heartbeat, by the database's clock, what it runs, and whether it
-- is draining. No row comes back when the cluster has declared it lost. The pause comes with
-- its version: this statement's snapshot may predate a pause that committed while it waited
-- for the row.
UPDATE nodes SET heartbeat_at = now(), busy = $2, pool = $3, draining = $4
WHERE id = $1 AND state = 'alive'
RETURNING (SELECT paused FROM cluster WHERE id = 1) AS paused,
          (SELECT pause_version FROM cluster WHERE id = 1) AS pause_version
