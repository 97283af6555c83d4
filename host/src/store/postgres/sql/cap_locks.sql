-- Takes a transaction-level advisory lock for each capped module of $1, in the order given
-- (by hash), so two claims never deadlock; submissions and module reads take none.
SELECT pg_advisory_xact_lock(hashtextextended('wasmpool.cap.' || hash, 0))
FROM UNNEST($1::TEXT[]) WITH ORDINALITY AS m (hash, n)
ORDER BY n
