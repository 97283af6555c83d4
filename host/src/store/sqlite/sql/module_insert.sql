-- Records module ?1 (kind ?2, ?3 bytes, at ?4) unless it is stored already; its bytes stay in
-- the data directory's file (one host reads them there).
INSERT INTO modules (hash, kind, size, created_at) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (hash) DO NOTHING
