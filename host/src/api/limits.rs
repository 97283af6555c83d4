//! `/v1/rate-limits`: the caller's tenant's named rate limits (issue 23), and the check that
//! a submission names only limits its tenant has. Another tenant's limit of a name is
//! another limit: a name the caller's tenant lacks is 404 (`DELETE`) or 400 (a job naming
//! it), whoever else has one.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use bytes::Bytes;
use wasmpool_protocol::validate::check_name;

use super::auth::Caller;
use super::{ApiError, ApiResult, AppState, body, json_object};
use crate::store::{NewJob, RateLimitRecord, Store};
use crate::wire::{ErrorBody, MAX_LIMIT_RATE, MAX_LIMIT_WINDOW_MS, RateLimitSet, RateLimitView};

fn view(record: RateLimitRecord) -> RateLimitView {
    RateLimitView {
        name: record.name,
        per: record.per,
        window_ms: record.window_us / 1000,
        burst: record.burst,
        available: record.available,
        waiting: record.waiting,
        first_waiting: record.first_waiting,
    }
}

/// Refuses (400 naming them) jobs that name rate limits their tenant does not have.
pub async fn check(store: &Store, tenant: &str, jobs: &[NewJob]) -> ApiResult<()> {
    let mut names: Vec<String> = jobs.iter().flat_map(|job| job.rate_limits.clone()).collect();
    if names.is_empty() {
        return Ok(());
    }
    names.sort_unstable();
    names.dedup();
    let unknown = store.unknown_rate_limits(tenant, &names).await?;
    if let Some(name) = unknown.first() {
        return Err(ApiError::bad_request(format!(
            "no rate limit `{name}` (set one with PUT /v1/rate-limits/{name})"
        )));
    }
    Ok(())
}

/// The caller's tenant's rate limits, by name: each with the starts it would allow now and
/// the queued jobs that use it.
#[utoipa::path(get, path = "/v1/rate-limits", responses((status = 200, body = Vec<RateLimitView>)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<RateLimitView>>> {
    let limits = state.store.rate_limits(&caller.tenant).await?;
    Ok(Json(limits.into_iter().map(view).collect()))
}

/// Set one of the caller's tenant's rate limits (made if new): at most `per` jobs naming it
/// start every `window_ms`, `burst` of them at once after a quiet while (default 1).
#[utoipa::path(put, path = "/v1/rate-limits/{name}", params(("name" = String, Path, pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")), request_body = RateLimitSet,
    responses((status = 200, body = RateLimitView), (status = 400, body = ErrorBody),
              (status = 415, body = ErrorBody, description = "a body of another content type")))]
pub async fn put(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    request: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<RateLimitView>> {
    check_name("rate limit", &name)?;
    let body = body(request, state.limits.max_request_bytes, "the request")?;
    let set: RateLimitSet = json_object(&body, "the rate limit")?;
    let burst = set.burst.unwrap_or(1);
    if !(1..=MAX_LIMIT_RATE).contains(&set.per) || !(1..=MAX_LIMIT_RATE).contains(&burst) {
        return Err(ApiError::bad_request(format!(
            "per and burst are whole numbers from 1 to {MAX_LIMIT_RATE}"
        )));
    }
    if !(1..=MAX_LIMIT_WINDOW_MS).contains(&set.window_ms) {
        return Err(ApiError::bad_request(format!(
            "window_ms is from 1 to {MAX_LIMIT_WINDOW_MS} (a day)"
        )));
    }
    let values = (set.per, set.window_ms * 1000, burst);
    state.store.set_rate_limit(&caller.tenant, &name, values).await?;
    tracing::info!(tenant = caller.tenant, limit = name, "rate limit set");
    let limits = state.store.rate_limits(&caller.tenant).await?;
    let set = limits.into_iter().find(|limit| limit.name == name);
    Ok(Json(view(set.ok_or_else(|| ApiError::not_found(format!("no rate limit `{name}`")))?)))
}

/// Delete one of the caller's tenant's rate limits: jobs that name it are no longer held by
/// it.
#[utoipa::path(delete, path = "/v1/rate-limits/{name}", params(("name" = String, Path, pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")),
    responses((status = 204, description = "deleted"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    check_name("rate limit", &name)?;
    if !state.store.delete_rate_limit(&caller.tenant, &name).await? {
        return Err(ApiError::not_found(format!("no rate limit `{name}`")));
    }
    tracing::info!(tenant = caller.tenant, limit = name, "rate limit deleted");
    Ok(StatusCode::NO_CONTENT)
}
