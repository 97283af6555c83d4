-- Name $1 now points at module $2.
INSERT INTO module_names (name, hash, updated_at) VALUES ($1, $2, wasmpool_now())
ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at
