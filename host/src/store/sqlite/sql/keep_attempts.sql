-- Adds ended attempts to their jobs' histories ({values}: rows in this column order). An
-- attempt is recorded once (finish.sql's fence); OR IGNORE only keeps a history row from
-- ever failing the results it travels with.
INSERT OR IGNORE INTO attempts (job_id, attempt, node, worker_pid, started_at, finished_at,
                                state, exit_code, error)
VALUES {values}
