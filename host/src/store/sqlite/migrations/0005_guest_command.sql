-- What a job's guest is given beyond its args and env: argv[0] (NULL for the default, the
-- module's short hash and `.wasm`) and whether its environment also holds WASMPOOL_JOB_ID
-- and WASMPOOL_WORKER_PID (0: exactly the job's env); and the module name the job was
-- submitted by (NULL when by hash), which listings show.
ALTER TABLE jobs ADD COLUMN argv0 TEXT;
ALTER TABLE jobs ADD COLUMN job_env INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN module_name TEXT;
