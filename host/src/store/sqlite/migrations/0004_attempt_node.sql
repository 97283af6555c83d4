-- The host that holds a job's current or last attempt: its name (shown with the job) and its
-- incarnation (the fencing token's node; always 0 here, where one host owns the file).
ALTER TABLE jobs ADD COLUMN node TEXT;
ALTER TABLE jobs ADD COLUMN node_id INTEGER;
