-- The cluster's pause and its version.
SELECT paused, pause_version FROM cluster WHERE id = 1
