-- Whether module $1 is stored. FOR SHARE: it cannot be deleted while the job naming it
-- commits.
SELECT 1 FROM modules WHERE hash = $1 FOR SHARE
