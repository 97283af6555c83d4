//! `/v1/tenants/{name}/quotas`: a tenant's quotas, and their check at submission. Quotas
//! bind tenants other than the default one (the service's own): most queued jobs (checked
//! against a count of the tenant's queued jobs, an index of their own, before the insert; not
//! atomic with it, so concurrent submissions may pass it by a few), the largest timeout,
//! memory and fuel a job may ask for (a job that leaves one at the service's default, or
//! without fuel, gets the quota's when it is lower), and the module bytes it may own
//! (checked at upload). `max_running` is kept by the claim (`store/gate.rs`), not here.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, State};
use bytes::Bytes;
use wasmpool_protocol::validate::{DEFAULT_TENANT, check_name};

use super::auth::Caller;
use super::{ApiError, ApiResult, AppState, body, json_object};
use crate::store::NewJob;
use crate::wire::{ErrorBody, TenantQuotas};

/// Largest fair-share weight (running × weight stays far within an i64).
const MAX_WEIGHT: u64 = 1_000_000;

/// Seconds a submission over `max_queued` is told to wait: queued jobs start all the time.
const QUEUED_RETRY_AFTER: u64 = 1;

/// Refuses (429 naming the quota) jobs the caller's tenant's quotas do not allow, and gives
/// a job without fuel the tenant's largest fuel. Costs nothing for the default tenant.
/// First, jobs naming a rate limit the tenant lacks are refused (400).
pub async fn check(state: &AppState, caller: &Caller, jobs: &mut [NewJob]) -> ApiResult<()> {
    check_quotas(&state.store, &state.limits, &caller.tenant, jobs).await
}

/// [`check`] for jobs of `tenant` (also those a running job spawns).
pub async fn check_quotas(
    store: &crate::store::Store,
    limits: &wasmpool_protocol::validate::ServiceLimits,
    tenant: &str,
    jobs: &mut [NewJob],
) -> ApiResult<()> {
    super::limits::check(store, tenant, jobs).await?;
    if tenant == DEFAULT_TENANT {
        return Ok(());
    }
    let Some(quotas) = store.tenant_quotas(tenant).await? else { return Ok(()) };
    let over = |quota: &str, max: u64, asked: u64| {
        ApiError::quota_exceeded(
            format!("tenant `{}`'s quota {quota} is {max}; the job asks for {asked}", tenant),
            None,
        )
    };
    let default_timeout = limits.default_timeout.as_millis() as u64;
    let default_memory = limits.default_memory_mb;
    for job in jobs.iter_mut() {
        // A limit left at the service's default gets the quota instead.
        if let Some(max) = quotas.max_timeout_ms.filter(|_| job.timeout_ms == default_timeout) {
            job.timeout_ms = job.timeout_ms.min(max);
        }
        if let Some(max) = quotas.max_memory_mb.filter(|_| job.memory_mb == default_memory) {
            job.memory_mb = job.memory_mb.min(max);
        }
        if let Some(max) = quotas.max_timeout_ms.filter(|max| job.timeout_ms > *max) {
            return Err(over("max_timeout_ms", max, job.timeout_ms));
        }
        if let Some(max) = quotas.max_memory_mb.filter(|max| job.memory_mb > *max) {
            return Err(over("max_memory_mb", max, job.memory_mb));
        }
        if let Some(max) = quotas.max_fuel {
            match job.fuel {
                Some(fuel) if fuel > max => return Err(over("max_fuel", max, fuel)),
                Some(_) => {}
                None => job.fuel = Some(max),
            }
        }
    }
    if let Some(max) = quotas.max_queued {
        let queued = store.tenant_queued(tenant).await?;
        if queued + jobs.len() as u64 > max {
            return Err(ApiError::quota_exceeded(
                format!(
                    "tenant `{}`'s quota max_queued is {max}; {queued} are queued and this \
                     submission adds {}",
                    tenant,
                    jobs.len()
                ),
                Some(QUEUED_RETRY_AFTER),
            ));
        }
    }
    Ok(())
}

/// Refuses (429 naming `max_module_bytes`) an upload of `size` new bytes past the caller's
/// tenant's module storage; nothing is written. Checked before the upload's write, not
/// atomically with it: concurrent uploads may pass the quota by one module each.
pub async fn check_module_bytes(state: &AppState, caller: &Caller, size: u64) -> ApiResult<()> {
    if caller.tenant == DEFAULT_TENANT {
        return Ok(());
    }
    let Some(quotas) = state.store.tenant_quotas(&caller.tenant).await? else { return Ok(()) };
    let Some(max) = quotas.max_module_bytes else { return Ok(()) };
    let owned = state.store.tenant_module_bytes(&caller.tenant).await?;
    if owned + size > max {
        return Err(ApiError::quota_exceeded(
            format!(
                "tenant `{}`'s quota max_module_bytes is {max}; its modules hold {owned} bytes \
                 and this upload adds {size}",
                caller.tenant
            ),
            None,
        ));
    }
    Ok(())
}

/// A tenant's quotas: the caller's own, or any tenant's for the service's admin (another
/// tenant's answers 404).
#[utoipa::path(get, path = "/v1/tenants/{name}/quotas", params(("name" = String, Path, pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")),
    responses((status = 200, body = TenantQuotas), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<TenantQuotas>> {
    check_name("tenant", &name)?;
    let unknown = || ApiError::not_found(format!("no tenant `{name}`"));
    if name != caller.tenant && !caller.is_service_admin() {
        return Err(unknown());
    }
    Ok(Json(state.store.tenant_quotas(&name).await?.ok_or_else(unknown)?))
}

/// Set a tenant's quotas (all of them; `null` or left out: none), making the tenant if new. The
/// service's admin only; the default tenant has none.
#[utoipa::path(put, path = "/v1/tenants/{name}/quotas", params(("name" = String, Path, pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")), request_body = TenantQuotas,
    responses((status = 200, body = TenantQuotas), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 415, body = ErrorBody, description = "a body of another content type")))]
pub async fn put(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    request: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<TenantQuotas>> {
    if !caller.is_service_admin() {
        return Err(ApiError::forbidden("only the service's admin sets tenants' quotas"));
    }
    check_name("tenant", &name)?;
    let body = body(request, state.limits.max_request_bytes, "the request")?;
    let quotas: TenantQuotas = json_object(&body, "the quotas")?;
    if name == DEFAULT_TENANT {
        return Err(ApiError::bad_request("the default tenant (the service's own) has no quotas"));
    }
    if quotas.weight.is_some_and(|weight| !(1..=MAX_WEIGHT).contains(&weight)) {
        return Err(ApiError::bad_request(format!("weight is from 1 to {MAX_WEIGHT}")));
    }
    let values = [
        quotas.max_queued,
        quotas.max_timeout_ms,
        quotas.max_memory_mb,
        quotas.max_fuel,
        quotas.max_running,
        quotas.max_module_bytes,
    ];
    if values.iter().flatten().any(|&value| value == 0 || value > i64::MAX as u64) {
        return Err(ApiError::bad_request(format!(
            "a quota is a whole number from 1 to {} (null for none)",
            i64::MAX
        )));
    }
    state.store.set_tenant_quotas(name.clone(), quotas.clone()).await?;
    tracing::info!(tenant = name, "tenant quotas set");
    Ok(Json(quotas))
}
