//! Tenants, tokens and module owners on SQLite: writes on the writer's connection, reads on
//! the read pool.

use rusqlite::{Connection, params};

use super::SqliteStore;
use super::reads::decode;
use super::values::now;
use super::writer::Kind::Promised;
use crate::store::backend::Tenancy;
use crate::store::tenants::{NewToken, TokenRecord, quotas, stored, token};
use crate::store::{Result, StoreError};
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

impl Tenancy for SqliteStore {
    async fn create_token(&self, new: NewToken) -> Result<TokenRecord> {
        self.write(Promised, move |db, _, _| create_token(db, &new)).await
    }

    async fn tokens(&self, tenant: Option<&str>) -> Result<Vec<TokenRecord>> {
        let tenant = tenant.map(str::to_string);
        self.reads
            .read(move |db| {
                let mut statement = db.prepare_cached(TOKENS)?;
                decode(&mut statement, [tenant], |row| token(row))
            })
            .await
    }

    async fn revoke_token(&self, id: i64, tenant: Option<String>) -> Result<bool> {
        self.write(Promised, move |db, _, _| {
            Ok(db.prepare_cached(TOKEN_REVOKE)?.execute(params![id, now(), tenant])? == 1)
        })
        .await
    }

    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<TokenRecord>> {
        let hash = secret_hash.to_string();
        self.reads
            .read(move |db| {
                let mut statement = db.prepare_cached(TOKEN_BY_HASH)?;
                let found = decode(&mut statement, [hash], |r| token(r))?;
                Ok(found.into_iter().next())
            })
            .await
    }

    async fn own_module(&self, tenant: String, hash: String) -> Result<()> {
        self.write(Promised, move |db, _, _| {
            db.prepare_cached(MODULE_OWN)?.execute(params![tenant, hash])?;
            Ok(())
        })
        .await
    }

    async fn owns_module(&self, tenant: &str, hash: &str) -> Result<bool> {
        let (tenant, hash) = (tenant.to_string(), hash.to_string());
        self.reads
            .read(move |db| Ok(db.prepare_cached(MODULE_OWNER)?.exists(params![tenant, hash])?))
            .await
    }

    async fn owned_modules(&self, tenant: &str) -> Result<Vec<String>> {
        let tenant = tenant.to_string();
        self.reads
            .read(move |db| {
                let hashes = db
                    .prepare_cached(MODULES_OWNED)?
                    .query_map([tenant], |row| row.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(hashes)
            })
            .await
    }

    async fn module_owners(&self, hash: &str) -> Result<u64> {
        let hash = hash.to_string();
        self.reads
            .read(move |db| {
                let count: i64 =
                    db.prepare_cached(MODULE_OWNERS)?.query_row([hash], |row| row.get(0))?;
                Ok(count as u64)
            })
            .await
    }

    async fn disown_module(&self, tenant: String, hash: String) -> Result<()> {
        self.write(Promised, move |db, _, _| disown_module(db, &tenant, &hash)).await
    }

    async fn tenant_quotas(&self, tenant: &str) -> Result<Option<TenantQuotas>> {
        let tenant = tenant.to_string();
        self.reads
            .read(move |db| {
                let mut statement = db.prepare_cached(TENANT_QUOTAS)?;
                Ok(decode(&mut statement, [tenant], |row| quotas(row))?.into_iter().next())
            })
            .await
    }

    async fn set_tenant_quotas(&self, tenant: String, set: TenantQuotas) -> Result<bool> {
        self.write(Promised, move |db, changes, _| {
            db.prepare_cached(TENANT_INSERT)?.execute(params![tenant, now()])?;
            let values = params![
                tenant,
                stored(set.max_queued),
                stored(set.max_timeout_ms),
                stored(set.max_memory_mb),
                stored(set.max_fuel),
                stored(set.max_running),
                stored(set.max_module_bytes),
                stored(set.weight)
            ];
            // A raised (or cleared) max_running may let jobs left queued start.
            changes.freed += 1;
            Ok(db.prepare_cached(TENANT_QUOTAS_SET)?.execute(values)? == 1)
        })
        .await
    }

    async fn tenant_queued(&self, tenant: &str) -> Result<u64> {
        let tenant = tenant.to_string();
        self.reads
            .read(move |db| {
                let count: i64 =
                    db.prepare_cached(TENANT_QUEUED)?.query_row([tenant], |row| row.get(0))?;
                Ok(count as u64)
            })
            .await
    }

    async fn tenant_module_bytes(&self, tenant: &str) -> Result<u64> {
        let tenant = tenant.to_string();
        self.reads
            .read(move |db| {
                let bytes: i64 = db
                    .prepare_cached(TENANT_MODULE_BYTES)?
                    .query_row([tenant], |row| row.get(0))?;
                Ok(bytes.max(0) as u64)
            })
            .await
    }
}

fn disown_module(db: &Connection, tenant: &str, hash: &str) -> Result<()> {
    db.prepare_cached(MODULE_NAMES_DROP)?.execute(params![tenant, hash])?;
    db.prepare_cached(MODULE_DISOWN)?.execute(params![tenant, hash])?;
    Ok(())
}

fn create_token(db: &Connection, new: &NewToken) -> Result<TokenRecord> {
    let at = now();
    db.prepare_cached(TENANT_INSERT)?.execute(params![new.tenant, at])?;
    let lasts = new.lasts.map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 2));
    let mut statement = db.prepare_cached(TOKEN_INSERT)?;
    let made = decode(
        &mut statement,
        params![new.tenant, new.scope.as_str(), new.secret_hash, at, lasts],
        |row| token(row),
    )?;
    made.into_iter()
        .next()
        .ok_or_else(|| StoreError::CommitFailed("the token's insert returned no row".into()))
}
