-- The lanes some live host serves.
SELECT DISTINCT jsonb_object_keys(lanes) AS lane FROM nodes WHERE state = 'alive' ORDER BY lane
