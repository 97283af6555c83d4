-- The pause's version, bumped by every pause and resume: a host applies a pause it reads only
-- if it is not older than one it applied already, so a heartbeat whose read raced a pause
-- (its snapshot taken before the pause committed) cannot undo it.
ALTER TABLE cluster ADD COLUMN pause_version BIGINT NOT NULL DEFAULT 0;
