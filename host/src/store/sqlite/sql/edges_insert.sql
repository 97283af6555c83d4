-- New edges (?1: a JSON array of [parent, child] ids).
INSERT INTO job_edges (parent_id, child_id)
SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?1)
