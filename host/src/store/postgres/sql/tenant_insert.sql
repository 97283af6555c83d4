-- Makes tenant $1 unless it exists.
INSERT INTO tenants (name, created_at) VALUES ($1, wasmpool_now()) ON CONFLICT (name) DO NOTHING
