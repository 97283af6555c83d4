-- What a job's guest is given beyond its args and env: argv[0] (NULL for the default, the
-- module's short hash and `.wasm`) and whether its environment also holds WASMPOOL_JOB_ID
-- and WASMPOOL_WORKER_PID (false: exactly the job's env); and the module name the job was
-- submitted by (NULL when by hash), which listings show.
ALTER TABLE jobs
    ADD COLUMN argv0 TEXT,
    ADD COLUMN job_env BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN module_name TEXT;
