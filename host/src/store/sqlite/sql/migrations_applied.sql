-- The migrations applied, with the checksums they were applied with.
SELECT version, checksum FROM _sqlx_migrations ORDER BY version
