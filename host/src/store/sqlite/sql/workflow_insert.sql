-- A new workflow, made at ?1.
INSERT INTO workflows (created_at) VALUES (?1) RETURNING id
