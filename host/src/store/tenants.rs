//! Tenants, their tokens and the modules each owns: the records, and the facade's methods.
//! A token is stored as the SHA-256 of its secret (hex); the store never sees a secret.

use std::time::{Duration, SystemTime};

use super::backend::Tenancy;
use super::rows::{Columns, corrupt, required_int, required_text, time};
use super::{Engine, Result, Store};
use crate::wire::{Scope, TenantQuotas};
use wasmpool_protocol::validate::DEFAULT_TENANT;

/// The stored name of `tenant`'s module, schedule or queue `name`: itself for the default
/// tenant, `TENANT:name` for another (names never hold `:`, so no two tenants' names meet).
pub fn stored_name(tenant: &str, name: &str) -> String {
    if tenant == DEFAULT_TENANT { name.to_string() } else { format!("{tenant}:{name}") }
}

/// The tenant of a stored name and the name as that tenant gave it.
pub fn split_name(stored: &str) -> (&str, &str) {
    stored.split_once(':').unwrap_or((DEFAULT_TENANT, stored))
}

/// A stored token (without its secret, which is never stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    /// Its id.
    pub id: i64,
    /// The tenant it acts for.
    pub tenant: String,
    /// What it may do.
    pub scope: Scope,
    /// When it was made.
    pub created_at: SystemTime,
    /// When it stops working (`None`: never).
    pub expires_at: Option<SystemTime>,
    /// When it was revoked (`None`: in force).
    pub revoked_at: Option<SystemTime>,
}

impl TokenRecord {
    /// Whether the token is in force at `now`: not revoked, not expired.
    pub fn in_force(&self, now: SystemTime) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|end| now < end)
    }
}

/// A token to store.
#[derive(Clone, Debug)]
pub struct NewToken {
    /// The tenant it acts for (made if new).
    pub tenant: String,
    /// What it may do.
    pub scope: Scope,
    /// Hex SHA-256 of its secret.
    pub secret_hash: String,
    /// How long it lasts from now (`None`: until revoked).
    pub lasts: Option<Duration>,
}

/// Decodes a `tokens` row (`id, tenant, scope, created_at, expires_at, revoked_at`).
pub(super) fn token(row: &impl Columns) -> Result<TokenRecord> {
    let scope = required_text(row, "scope")?;
    Ok(TokenRecord {
        id: required_int(row, "id")?,
        tenant: required_text(row, "tenant")?,
        scope: Scope::parse(&scope).ok_or_else(|| corrupt("scope", scope))?,
        created_at: time(required_int(row, "created_at")?),
        expires_at: row.int("expires_at")?.map(time),
        revoked_at: row.int("revoked_at")?.map(time),
    })
}

impl Store {
    /// Stores a token, making its tenant if new.
    pub async fn create_token(&self, token: NewToken) -> Result<TokenRecord> {
        each!(self, store => store.create_token(token).await)
    }

    /// Every token, oldest first; only `tenant`'s when given.
    pub async fn tokens(&self, tenant: Option<&str>) -> Result<Vec<TokenRecord>> {
        each!(self, store => store.tokens(tenant).await)
    }

    /// Revokes token `id` (of `tenant` only, when given); whether there was one. Revoking a
    /// revoked token keeps its first revocation time.
    pub async fn revoke_token(&self, id: i64, tenant: Option<String>) -> Result<bool> {
        each!(self, store => store.revoke_token(id, tenant).await)
    }

    /// The token whose secret hashes to `secret_hash`, in force or not.
    pub async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<TokenRecord>> {
        each!(self, store => store.token_by_hash(secret_hash).await)
    }

    /// Makes `tenant` an owner of module `hash` (stored already); owning twice is owning.
    pub async fn own_module(&self, tenant: String, hash: String) -> Result<()> {
        each!(self, store => store.own_module(tenant, hash).await)
    }

    /// Whether `tenant` owns module `hash`.
    pub async fn owns_module(&self, tenant: &str, hash: &str) -> Result<bool> {
        each!(self, store => store.owns_module(tenant, hash).await)
    }

    /// The hashes of the modules `tenant` owns.
    pub async fn owned_modules(&self, tenant: &str) -> Result<Vec<String>> {
        each!(self, store => store.owned_modules(tenant).await)
    }

    /// How many tenants own module `hash`.
    pub async fn module_owners(&self, hash: &str) -> Result<u64> {
        each!(self, store => store.module_owners(hash).await)
    }

    /// `tenant` gives up module `hash`, which others still own: its ownership and its names
    /// of the module go, the module stays.
    pub async fn disown_module(&self, tenant: String, hash: String) -> Result<()> {
        each!(self, store => store.disown_module(tenant, hash).await)
    }

    /// Tenant `tenant`'s quotas; `None` when there is no such tenant.
    pub async fn tenant_quotas(&self, tenant: &str) -> Result<Option<TenantQuotas>> {
        each!(self, store => store.tenant_quotas(tenant).await)
    }

    /// Sets a tenant's quotas (made if new); replaces them all. Waiting dispatchers are woken:
    /// a raised `max_running` may let queued jobs start.
    pub async fn set_tenant_quotas(&self, tenant: String, quotas: TenantQuotas) -> Result<()> {
        each!(self, store => store.set_tenant_quotas(tenant, quotas).await).map(drop)
    }

    /// How many of `tenant`'s jobs are queued (0 for the default tenant, which has no quota).
    pub async fn tenant_queued(&self, tenant: &str) -> Result<u64> {
        each!(self, store => store.tenant_queued(tenant).await)
    }

    /// The bytes of the modules `tenant` owns (each counted whole).
    pub async fn tenant_module_bytes(&self, tenant: &str) -> Result<u64> {
        each!(self, store => store.tenant_module_bytes(tenant).await)
    }
}

/// Quotas from a `tenants` row (`max_queued`, `max_timeout_ms`, `max_memory_mb`, `max_fuel`,
/// `max_running`, `max_module_bytes`).
pub(super) fn quotas(row: &impl Columns) -> Result<TenantQuotas> {
    let count = |column| Ok::<_, super::StoreError>(row.int(column)?.map(|v| v.max(0) as u64));
    Ok(TenantQuotas {
        max_queued: count("max_queued")?,
        max_timeout_ms: count("max_timeout_ms")?,
        max_memory_mb: count("max_memory_mb")?,
        max_fuel: count("max_fuel")?,
        max_running: count("max_running")?,
        max_module_bytes: count("max_module_bytes")?,
        weight: count("weight")?,
    })
}

/// A quota as stored.
pub(super) fn stored(quota: Option<u64>) -> Option<i64> {
    quota.map(|value| i64::try_from(value).unwrap_or(i64::MAX))
}
