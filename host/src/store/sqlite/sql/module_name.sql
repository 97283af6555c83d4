-- Name ?1 now points at module ?2 (from ?3).
INSERT INTO module_names (name, hash, updated_at) VALUES (?1, ?2, ?3)
ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at
