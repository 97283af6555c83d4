//! The schema: the numbered files in `migrations/`, applied in order, each in a transaction of
//! its own, each recorded in `_sqlx_migrations`.
//!
//! That table is the one sqlx's migrator kept when it applied these files (wasmpool did until
//! it gave SQLite one driver), and it is kept exactly as sqlx keeps it — the same columns, a
//! row per version with the SHA-384 of the migration's SQL as its checksum — so that a
//! database migrated by either is recognised by the other: an older wasmpool still opens a
//! database this one created or migrated. (`PRAGMA user_version` would be simpler, but an
//! older wasmpool, finding no `_sqlx_migrations`, would run `0001_init.sql` again and fail.)

use std::time::Instant;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha384};

use crate::store::{Result, StoreError};

/// One migration: its version and description as sqlx derives them from the file's name
/// (`0002_queues_and_progress.sql`: 2, "queues and progress"), and its SQL.
pub struct Migration {
    pub version: i64,
    pub description: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order. A new one is a new file here and a new line below (a test
/// checks that the two agree).
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, description: "init", sql: include_str!("migrations/0001_init.sql") },
    Migration {
        version: 2,
        description: "queues and progress",
        sql: include_str!("migrations/0002_queues_and_progress.sql"),
    },
    Migration {
        version: 3,
        description: "module index without state",
        sql: include_str!("migrations/0003_module_index_without_state.sql"),
    },
    Migration {
        version: 4,
        description: "attempt node",
        sql: include_str!("migrations/0004_attempt_node.sql"),
    },
    Migration {
        version: 5,
        description: "guest command",
        sql: include_str!("migrations/0005_guest_command.sql"),
    },
    Migration { version: 6, description: "lanes", sql: include_str!("migrations/0006_lanes.sql") },
    Migration {
        version: 7,
        description: "schedules",
        sql: include_str!("migrations/0007_schedules.sql"),
    },
    Migration {
        version: 8,
        description: "attempts history",
        sql: include_str!("migrations/0008_attempts_history.sql"),
    },
    Migration {
        version: 9,
        description: "dashboard stats",
        sql: include_str!("migrations/0009_dashboard_stats.sql"),
    },
    Migration {
        version: 10,
        description: "ticks skipped",
        sql: include_str!("migrations/0010_ticks_skipped.sql"),
    },
    Migration { version: 11, description: "calls", sql: include_str!("migrations/0011_calls.sql") },
    Migration {
        version: 12,
        description: "mounts",
        sql: include_str!("migrations/0012_mounts.sql"),
    },
    Migration {
        version: 13,
        description: "workflows",
        sql: include_str!("migrations/0013_workflows.sql"),
    },
    Migration {
        version: 14,
        description: "tenants",
        sql: include_str!("migrations/0014_tenants.sql"),
    },
    Migration {
        version: 15,
        description: "params from parents",
        sql: include_str!("migrations/0015_params_from_parents.sql"),
    },
    Migration {
        version: 16,
        description: "flow control",
        sql: include_str!("migrations/0016_flow_control.sql"),
    },
];

impl Migration {
    /// What sqlx records as the migration's checksum: the SHA-384 of its SQL.
    pub fn checksum(&self) -> Vec<u8> {
        Sha384::digest(self.sql.as_bytes()).to_vec()
    }
}

/// sqlx's table of applied migrations, as sqlx creates it.
const TABLE: &str = include_str!("sql/migrations_table.sql");

fn schema(message: String) -> StoreError {
    StoreError::Schema(message)
}

/// Applies the migrations the database lacks. Refuses a database that records a migration
/// this wasmpool does not have (a newer one migrated it), one whose recorded migration differs
/// from this wasmpool's, and one a migration failed halfway through (as sqlx would).
pub fn run(db: &mut Connection) -> Result<()> {
    db.execute_batch(TABLE)?;
    let dirty: Option<i64> =
        db.query_row(include_str!("sql/migration_dirty.sql"), [], |row| row.get(0)).optional()?;
    if let Some(version) = dirty {
        return Err(schema(format!(
            "migration {version} was left partially applied; restore the database from a backup"
        )));
    }
    let applied = db
        .prepare(include_str!("sql/migrations_applied.sql"))?
        .query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (version, checksum) in &applied {
        match MIGRATIONS.iter().find(|m| m.version == *version) {
            None => {
                return Err(schema(format!(
                    "the database has migration {version}, which this wasmpool does not know: \
                     a newer wasmpool migrated it"
                )));
            }
            Some(migration) if migration.checksum() != *checksum => {
                return Err(schema(format!(
                    "migration {version} ({}) was applied with different SQL than this \
                     wasmpool's",
                    migration.description
                )));
            }
            Some(_) => {}
        }
    }
    for migration in MIGRATIONS {
        if !applied.iter().any(|(version, _)| *version == migration.version) {
            apply(db, migration)?;
        }
    }
    Ok(())
}

/// Applies one migration and records it, in one transaction.
fn apply(db: &mut Connection, migration: &Migration) -> Result<()> {
    let started = Instant::now();
    let transaction = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
    transaction.execute_batch(migration.sql).map_err(|e| {
        schema(format!("applying migration {} ({}): {e}", migration.version, migration.description))
    })?;
    transaction.execute(
        include_str!("sql/migration_applied.sql"),
        params![
            migration.version,
            migration.description,
            migration.checksum(),
            started.elapsed().as_nanos() as i64
        ],
    )?;
    transaction.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The list above names every file in `migrations/`, in order, with the version and
    /// description sqlx derives from the file's name.
    #[test]
    fn every_migration_file_is_listed() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/host/src/store/sqlite/migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort();
        assert_eq!(files.len(), MIGRATIONS.len(), "{files:?}");
        for (file, migration) in files.iter().zip(MIGRATIONS) {
            let (version, description) = file.trim_end_matches(".sql").split_once('_').unwrap();
            assert_eq!(version.parse::<i64>().unwrap(), migration.version, "{file}");
            assert_eq!(description.replace('_', " "), migration.description, "{file}");
            let sql = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
            assert_eq!(sql, migration.sql, "{file}");
        }
    }

    /// The checksums sqlx recorded for the migrations (`sha384sum migrations/*.sql`): a
    /// database it migrated must still match them. Editing a migration that databases have
    /// applied breaks them; add a new one instead.
    #[test]
    fn checksums_are_those_sqlx_recorded() {
        let recorded = [
            "b0eca35749805bbb7aa234a445ac528025a9c3d7897bc695b377b4a6736cae5548311aeb9778e808e3edba8b1408cb15",
            "6e518db7307888fded8da85b10a33fe9dae2b039aba57452e89c9eec4123f52400805dfe02defed38152ba32fa9228a8",
            "ec2dccecaae2e7b931fa43f8dc49c25e5f3f39f3c9a809709b7048b5797d39e458adb1e36a5b6b35fd548d6a0629f719",
            "19fcccfc6d9907618486d1b6282a7121056b8665d264cfa1138c2503d940cb096e129b353a7d9f918590104426743429",
        ];
        for (migration, checksum) in MIGRATIONS.iter().zip(recorded) {
            assert_eq!(hex::encode(migration.checksum()), checksum, "{}", migration.version);
        }
    }
}
