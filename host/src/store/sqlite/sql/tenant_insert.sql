-- Makes tenant ?1 (at ?2, µs) unless it exists.
INSERT INTO tenants (name, created_at) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING
