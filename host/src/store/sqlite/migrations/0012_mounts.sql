-- Mounts (issue 27): a job may be granted directories the service declares
-- (`serve --mount NAME=DIR`), by name and guest path: a JSON array of
-- {"name","path","read_only"}, NULL for none.
ALTER TABLE jobs ADD COLUMN mounts TEXT;
