-- Calls (issue 20): a job may run an exported function with typed parameters instead of its
-- module's command. A module keeps what it exports (JSON, worked out when it was compiled), so
-- a call is checked at submission without compiling; a job keeps the function, its
-- parameters (a JSON array) and what it returned (JSON).
ALTER TABLE modules ADD COLUMN exports TEXT;
ALTER TABLE jobs ADD COLUMN call_function TEXT;
ALTER TABLE jobs ADD COLUMN call_params TEXT;
ALTER TABLE jobs ADD COLUMN call_result TEXT;
