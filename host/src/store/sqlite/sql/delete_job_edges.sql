-- The edges of deleted job ?1 (its children have all ended; its parents are done with it).
DELETE FROM job_edges WHERE parent_id = ?1 OR child_id = ?1
