-- Every state change of a job moved its entry in jobs_by_module (module_hash, state): two
-- more b-tree writes per transition, on the hot path of every job. The index is there to
-- find a module's jobs (listing by module, refusing to delete a module in use); keyed by
-- module alone (and so by id within it) it is written once, when the job is submitted.
DROP INDEX jobs_by_module;
CREATE INDEX jobs_by_module ON jobs (module_hash);
