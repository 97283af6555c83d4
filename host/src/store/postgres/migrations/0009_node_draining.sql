-- Whether a host is draining (stopping: no new jobs, its running ones finishing), as its
-- heartbeat reports, so `nodes` can tell it from a host that is simply alive.
ALTER TABLE nodes ADD COLUMN draining BOOLEAN NOT NULL DEFAULT false;
