-- Which of modules $1 are stored. FOR SHARE: a module cannot be deleted while a submission
-- naming it commits.
SELECT hash FROM modules WHERE hash = ANY($1) FOR SHARE
