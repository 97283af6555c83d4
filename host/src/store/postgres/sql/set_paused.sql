-- Pauses ($1 true) or resumes handing out queued jobs on every host; every change bumps the
-- pause's version.
UPDATE cluster SET paused = $1, pause_version = pause_version + 1 WHERE id = 1
RETURNING pause_version
