//! Modules on the writer's connection: recording one (and pointing a name at it), deleting
//! one no queued or running job needs, setting its cap on running jobs.

use rusqlite::{Connection, params};

use super::SqliteStore;
use super::reads::decode;
use super::values::now;
use super::writer::Kind::{Promised, Refusable};
use crate::job::ModuleKind;
use crate::store::backend::Modules;
use crate::store::changes::Changes;
use crate::store::rows::{self, ModuleRecord};
use crate::store::{Result, StoreError};

const MODULE_INSERT: &str = include_str!("sql/module_insert.sql");
const MODULE_EXPORTS: &str = include_str!("sql/module_exports.sql");
const MODULE_NAME: &str = include_str!("sql/module_name.sql");
const MODULE_BY_HASH: &str = include_str!("sql/module_by_hash.sql");
const MODULE_IN_USE: &str = include_str!("sql/module_in_use.sql");
const MODULE_DELETE: &str = include_str!("sql/module_delete.sql");
const MAX_RUNNING: &str = include_str!("sql/max_running.sql");

impl Modules for SqliteStore {
    /// The module's bytes stay in the data directory's file (one host reads them there).
    async fn put_module(
        &self,
        hash: String,
        kind: ModuleKind,
        bytes: &[u8],
        name: Option<String>,
        exports: Option<String>,
    ) -> Result<(ModuleRecord, bool)> {
        let size = bytes.len() as u64;
        self.write(Promised, move |db, _, _| {
            put_module(db, &hash, kind, size, name.as_deref(), exports.as_deref())
        })
        .await
    }

    /// The bytes are in the data directory, not in the database.
    async fn module_bytes(&self, _hash: &str) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }

    async fn delete_module(&self, hash: String) -> Result<()> {
        self.write(Refusable, move |db, _, _| delete_module(db, hash)).await
    }

    async fn set_max_running(
        &self,
        hash: String,
        max_running: Option<u32>,
    ) -> Result<Option<ModuleRecord>> {
        self.write(Promised, move |db, changes, _| set_max_running(db, &hash, max_running, changes))
            .await
    }
}

fn put_module(
    db: &Connection,
    hash: &str,
    kind: ModuleKind,
    size: u64,
    name: Option<&str>,
    exports: Option<&str>,
) -> Result<(ModuleRecord, bool)> {
    let inserted = db.prepare_cached(MODULE_INSERT)?.execute(params![
        hash,
        kind.as_str(),
        size as i64,
        now()
    ])?;
    if let Some(exports) = exports {
        db.prepare_cached(MODULE_EXPORTS)?.execute(params![exports, hash])?;
    }
    if let Some(name) = name {
        db.prepare_cached(MODULE_NAME)?.execute(params![name, hash, now()])?;
    }
    Ok((module_by_hash(db, hash)?, inserted == 1))
}

fn module_by_hash(db: &Connection, hash: &str) -> Result<ModuleRecord> {
    let mut statement = db.prepare_cached(MODULE_BY_HASH)?;
    let found = decode(&mut statement, [hash], |row| rows::module(row))?.into_iter().next();
    found.ok_or_else(|| StoreError::Corrupt(format!("module {hash} vanished")))
}

fn delete_module(db: &Connection, hash: String) -> Result<()> {
    let jobs: i64 = db.prepare_cached(MODULE_IN_USE)?.query_row([&hash], |row| row.get(0))?;
    if jobs > 0 {
        return Err(StoreError::ModuleInUse { hash, jobs: jobs as u64 });
    }
    db.prepare_cached(MODULE_DELETE)?.execute([&hash])?;
    Ok(())
}

/// Sets or clears a module's cap. A cap raised or cleared may let waiting jobs run: the
/// dispatchers are woken (`freed`).
fn set_max_running(
    db: &Connection,
    hash: &str,
    max_running: Option<u32>,
    changes: &mut Changes,
) -> Result<Option<ModuleRecord>> {
    if db.prepare_cached(MAX_RUNNING)?.execute(params![max_running, hash])? == 0 {
        return Ok(None);
    }
    changes.freed += 1;
    Ok(Some(module_by_hash(db, hash)?))
}
