-- New edges: parents $1, children $2, pairwise.
INSERT INTO job_edges (parent_id, child_id)
SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[])
