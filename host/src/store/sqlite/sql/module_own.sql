-- Makes tenant ?1 an owner of module ?2 (owning twice is owning).
INSERT INTO module_owners (tenant, hash) VALUES (?1, ?2) ON CONFLICT (tenant, hash) DO NOTHING
