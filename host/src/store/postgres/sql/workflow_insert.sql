-- A new workflow, made now.
INSERT INTO workflows (created_at) VALUES (wasmpool_now()) RETURNING id
