//! Tenants, tokens and module owners on PostgreSQL. A revocation is a committed row every host
//! reads on the token's next request, so it holds at once across the cluster.

use super::PgStore;
use crate::store::Result;
use crate::store::backend::Tenancy;
use crate::store::changes::Changes;
use crate::store::tenants::{NewToken, TokenRecord, quotas, stored, token};
use crate::wire::TenantQuotas;

const TENANT_INSERT: &str = include_str!("sql/tenant_insert.sql");
const TOKEN_INSERT: &str = include_str!("sql/token_insert.sql");
const TOKENS: &str = include_str!("sql/tokens.sql");
const TOKEN_REVOKE: &str = include_str!("sql/token_revoke.sql");
const TOKEN_BY_HASH: &str = include_str!("sql/token_by_hash.sql");
const MODULE_OWN: &str = include_str!("sql/module_own.sql");
const MODULE_OWNER: &str = include_str!("sql/module_owner.sql");
const MODULES_OWNED: &str = include_str!("sql/modules_owned.sql");
const MODULE_OWNERS: &str = include_str!("sql/module_owners.sql");
const MODULE_DISOWN: &str = include_str!("sql/module_disown.sql");
const MODULE_NAMES_DROP: &str = include_str!("sql/module_names_drop.sql");
const TENANT_QUOTAS: &str = include_str!("sql/tenant_quotas.sql");
const TENANT_QUOTAS_SET: &str = include_str!("sql/tenant_quotas_set.sql");
const TENANT_QUEUED: &str = include_str!("sql/tenant_queued.sql");
const TENANT_MODULE_BYTES: &str = include_str!("sql/tenant_module_bytes.sql");

impl Tenancy for PgStore {
    async fn create_token(&self, new: NewToken) -> Result<TokenRecord> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(TENANT_INSERT).bind(&new.tenant).execute(&mut *tx).await?;
        let lasts = new.lasts.map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 2));
        let row = sqlx::query(TOKEN_INSERT)
            .bind(&new.tenant)
            .bind(new.scope.as_str())
            .bind(&new.secret_hash)
            .bind(lasts)
            .fetch_one(&mut *tx)
            .await?;
        let made = token(&row)?;
        tx.commit().await?;
        Ok(made)
    }

    async fn tokens(&self, tenant: Option<&str>) -> Result<Vec<TokenRecord>> {
        let rows = sqlx::query(TOKENS).bind(tenant).fetch_all(self.pool()).await?;
        rows.iter().map(token).collect()
    }

    async fn revoke_token(&self, id: i64, tenant: Option<String>) -> Result<bool> {
        let done = sqlx::query(TOKEN_REVOKE).bind(id).bind(tenant).execute(self.pool()).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<TokenRecord>> {
        let row = sqlx::query(TOKEN_BY_HASH).bind(secret_hash).fetch_optional(self.pool()).await?;
        row.as_ref().map(token).transpose()
    }

    async fn own_module(&self, tenant: String, hash: String) -> Result<()> {
        sqlx::query(MODULE_OWN).bind(tenant).bind(hash).execute(self.pool()).await?;
        Ok(())
    }

    async fn owns_module(&self, tenant: &str, hash: &str) -> Result<bool> {
        let row = sqlx::query(MODULE_OWNER).bind(tenant).bind(hash).fetch_optional(self.pool());
        Ok(row.await?.is_some())
    }

    async fn owned_modules(&self, tenant: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(MODULES_OWNED).bind(tenant).fetch_all(self.pool()).await?)
    }

    async fn module_owners(&self, hash: &str) -> Result<u64> {
        let count: i64 =
            sqlx::query_scalar(MODULE_OWNERS).bind(hash).fetch_one(self.pool()).await?;
        Ok(count as u64)
    }

    async fn disown_module(&self, tenant: String, hash: String) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(MODULE_NAMES_DROP).bind(&tenant).bind(&hash).execute(&mut *tx).await?;
        sqlx::query(MODULE_DISOWN).bind(&tenant).bind(&hash).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn tenant_quotas(&self, tenant: &str) -> Result<Option<TenantQuotas>> {
        let row = sqlx::query(TENANT_QUOTAS).bind(tenant).fetch_optional(self.pool()).await?;
        row.as_ref().map(quotas).transpose()
    }

    async fn set_tenant_quotas(&self, tenant: String, set: TenantQuotas) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(TENANT_INSERT).bind(&tenant).execute(&mut *tx).await?;
        let done = sqlx::query(TENANT_QUOTAS_SET)
            .bind(&tenant)
            .bind(stored(set.max_queued))
            .bind(stored(set.max_timeout_ms))
            .bind(stored(set.max_memory_mb))
            .bind(stored(set.max_fuel))
            .bind(stored(set.max_running))
            .bind(stored(set.max_module_bytes))
            .bind(stored(set.weight))
            .execute(&mut *tx)
            .await?;
        // A raised (or cleared) max_running may let jobs left queued start, on any host.
        self.commit(tx, Changes { freed: 1, ..Changes::default() }).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn tenant_queued(&self, tenant: &str) -> Result<u64> {
        let count: i64 =
            sqlx::query_scalar(TENANT_QUEUED).bind(tenant).fetch_one(self.pool()).await?;
        Ok(count as u64)
    }

    async fn tenant_module_bytes(&self, tenant: &str) -> Result<u64> {
        let bytes: i64 =
            sqlx::query_scalar(TENANT_MODULE_BYTES).bind(tenant).fetch_one(self.pool()).await?;
        Ok(bytes.max(0) as u64)
    }
}
