-- Lanes: each job names the lane whose workers run it, and each lane's dispatcher walks only
-- its own part of the queue, so the claim and due indexes lead with the lane. A module may
-- cap how many of its jobs run at once (NULL: no cap).
ALTER TABLE jobs ADD COLUMN lane TEXT NOT NULL DEFAULT 'default';
ALTER TABLE modules ADD COLUMN max_running INTEGER;
DROP INDEX jobs_queue;
CREATE INDEX jobs_queue ON jobs (lane, priority DESC, id) WHERE state = 'queued';
DROP INDEX jobs_due;
CREATE INDEX jobs_due ON jobs (lane, not_before) WHERE state = 'queued';
CREATE INDEX modules_capped ON modules (hash) WHERE max_running IS NOT NULL;
