-- Records migration ?1 (?2) as applied, with its checksum ?3 and how long it took ?4 (ns),
-- as sqlx's migrator does.
INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
VALUES (?1, ?2, TRUE, ?3, ?4)
