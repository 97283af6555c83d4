//! Modules: recording one with its bytes (any host may compile it), reading the bytes back,
//! deleting one no queued or running job needs, setting its cap on running jobs.

use sqlx::{Postgres, Transaction};

use super::PgStore;
use crate::job::ModuleKind;
use crate::store::backend::Modules;
use crate::store::changes::Changes;
use crate::store::rows::{self, ModuleRecord};
use crate::store::{Result, StoreError};

const MODULE_INSERT: &str = include_str!("sql/module_insert.sql");
const MODULE_NAME: &str = include_str!("sql/module_name.sql");
const MODULE_BY_HASH: &str = include_str!("sql/module_by_hash.sql");
const MODULE_EXPORTS: &str = include_str!("sql/module_exports.sql");
const MODULE_BYTES: &str = include_str!("sql/module_bytes.sql");
const MODULE_LOCK: &str = include_str!("sql/module_lock.sql");
const MODULE_IN_USE: &str = include_str!("sql/module_in_use.sql");
const MODULE_DELETE: &str = include_str!("sql/module_delete.sql");
const MAX_RUNNING: &str = include_str!("sql/max_running.sql");

impl Modules for PgStore {
    /// The bytes are stored with the module, so any host can compile it.
    async fn put_module(
        &self,
        hash: String,
        kind: ModuleKind,
        bytes: &[u8],
        name: Option<String>,
        exports: Option<String>,
    ) -> Result<(ModuleRecord, bool)> {
        let mut tx = self.pool().begin().await?;
        let inserted = sqlx::query(MODULE_INSERT)
            .bind(&hash)
            .bind(kind.as_str())
            .bind(bytes.len() as i64)
            .bind(bytes)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if let Some(exports) = exports {
            sqlx::query(MODULE_EXPORTS).bind(exports).bind(&hash).execute(&mut *tx).await?;
        }
        if let Some(name) = name {
            sqlx::query(MODULE_NAME).bind(name).bind(&hash).execute(&mut *tx).await?;
        }
        let record = module_by_hash(&mut tx, &hash).await?;
        tx.commit().await?;
        Ok((record, inserted == 1))
    }

    async fn module_bytes(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar(MODULE_BYTES).bind(hash).fetch_optional(self.pool()).await?)
    }

    async fn delete_module(&self, hash: String) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(MODULE_LOCK).bind(&hash).execute(&mut *tx).await?;
        let jobs: i64 = sqlx::query_scalar(MODULE_IN_USE).bind(&hash).fetch_one(&mut *tx).await?;
        if jobs > 0 {
            return Err(StoreError::ModuleInUse { hash, jobs: jobs as u64 });
        }
        sqlx::query(MODULE_DELETE).bind(&hash).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Raising or clearing a cap wakes every host's dispatchers.
    async fn set_max_running(
        &self,
        hash: String,
        max_running: Option<u32>,
    ) -> Result<Option<ModuleRecord>> {
        let mut tx = self.pool().begin().await?;
        let updated = sqlx::query(MAX_RUNNING)
            .bind(max_running.map(i64::from))
            .bind(&hash)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if updated == 0 {
            return Ok(None);
        }
        let record = module_by_hash(&mut tx, &hash).await?;
        self.commit(tx, Changes { freed: 1, ..Changes::default() }).await?;
        Ok(Some(record))
    }
}

async fn module_by_hash(tx: &mut Transaction<'_, Postgres>, hash: &str) -> Result<ModuleRecord> {
    let row = sqlx::query(MODULE_BY_HASH).bind(hash).fetch_one(&mut **tx).await?;
    rows::module(&row)
}
