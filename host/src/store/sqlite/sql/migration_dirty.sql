-- The first migration recorded as failed halfway (as sqlx's migrator records one).
SELECT version FROM _sqlx_migrations WHERE success = false ORDER BY version LIMIT 1
