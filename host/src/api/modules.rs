//! `/v1/modules`: upload, list, look up and delete modules.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use bytes::Bytes;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Caller;
use super::{ApiError, ApiResult, AppState, body, json, tenancy, views};
use crate::wire::{ErrorBody, ModulePatch, ModuleView};

/// Query of an upload.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// A name that will point at this module: 1 to 100 letters, digits, `.`, `_` or `-`, not
    /// `.` or `..`, and not 64 hex digits (which would read as a hash).
    #[param(pattern = r"^(?!\.\.?$)(?![0-9A-Fa-f]{64}$)[A-Za-z0-9._-]{1,100}$")]
    name: Option<String>,
    /// At most this many of the module's jobs run at once across the cluster (sets the
    /// module's cap; left out: the cap stays as it is).
    #[param(value_type = Option<u32>, minimum = 1)]
    max_running: Option<String>,
}

/// Upload a `.wasm` module or component (the raw bytes are the body).
#[utoipa::path(post, path = "/v1/modules", params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses((status = 201, body = ModuleView, description = "new module"),
              (status = 200, body = ModuleView, description = "already uploaded"),
              (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody, description = "a body of another content type"),
              (status = 429, body = ErrorBody, description = "over the tenant's max_module_bytes")))]
pub async fn upload(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<UploadQuery>, axum::extract::rejection::QueryRejection>,
    upload: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<ModuleView>)> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let bytes = body(upload, state.limits.max_module_bytes, "the module")?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request("empty body: send the .wasm bytes"));
    }
    if let Some(name) = &query.name {
        check_name(name)?;
    }
    let max_running = query.max_running.as_deref().map(parse_max_running).transpose()?;
    let (record, created) = upload_for(&state, &caller, bytes.to_vec(), query.name.clone()).await?;
    let mut record = record;
    if let Some(cap) = max_running {
        record = tenancy::own_names(&caller, set_cap(&state, record.hash, Some(cap)).await?);
    }
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(views::module(record, query.name))))
}

/// Stores an upload for the caller: under its own name, owned by it; "created" when the
/// caller did not own these bytes before (another tenant's copy is not the caller's).
pub(super) async fn upload_for(
    state: &AppState,
    caller: &Caller,
    bytes: Vec<u8>,
    name: Option<String>,
) -> ApiResult<(crate::store::ModuleRecord, bool)> {
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    let owned = state.store.owns_module(&caller.tenant, &hash).await?;
    if !owned {
        super::tenants::check_module_bytes(state, caller, bytes.len() as u64).await?;
    }
    let stored_name = name.as_deref().map(|name| caller.stored_name(name));
    let (record, _) = state.library.upload(bytes, stored_name).await?;
    if !owned {
        state.store.own_module(caller.tenant.clone(), record.hash.clone()).await?;
    }
    Ok((tenancy::own_names(caller, record), !owned))
}

/// `max_running` as the upload's query gives it: a whole number from 1.
fn parse_max_running(text: &str) -> ApiResult<u32> {
    match text.parse::<u32>() {
        Ok(cap) if cap >= 1 => Ok(cap),
        _ => Err(ApiError::bad_request(format!(
            "max_running `{text}` must be a whole number from 1 to {}",
            u32::MAX
        ))),
    }
}

async fn set_cap(
    state: &AppState,
    hash: String,
    max_running: Option<u32>,
) -> ApiResult<crate::store::ModuleRecord> {
    let record = state.store.set_max_running(hash.clone(), max_running).await?;
    let record = record.ok_or_else(|| ApiError::not_found(format!("no module `{hash}`")))?;
    tracing::info!(module = &hash[..12.min(hash.len())], max_running, "module cap set");
    Ok(record)
}

/// Change a module: its cap on jobs running at once across the cluster (`max_running`, a
/// number from 1, or `null` for no cap).
#[utoipa::path(patch, path = "/v1/modules/{id}", params(("id" = String, Path, description = "hash or name")),
    request_body = ModulePatch,
    responses((status = 200, body = ModuleView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 415, body = ErrorBody, description = "a body of another content type")))]
pub async fn patch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    request: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<ModuleView>> {
    let patch: ModulePatch = json(&body(request, state.limits.max_request_bytes, "the request")?)?;
    if patch.max_running == Some(Some(0)) {
        return Err(ApiError::bad_request("max_running must be at least 1 (null for no cap)"));
    }
    let module = tenancy::module(&state, &caller, &id).await?;
    let record = match patch.max_running {
        Some(cap) => tenancy::own_names(&caller, set_cap(&state, module.hash, cap).await?),
        None => module,
    };
    Ok(Json(views::module(record, None)))
}

/// Names are for people and URLs: letters, digits, `.`, `_`, `-`, at most 100; not `.` or
/// `..` (a URL path cannot carry them: `/v1/modules/..` is `/v1`).
fn check_name(name: &str) -> ApiResult<()> {
    let fine = !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= 100
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !(name.len() == 64 && name.chars().all(|c| c.is_ascii_hexdigit()));
    if !fine {
        return Err(ApiError::bad_request(format!(
            "module name `{name}` must be 1 to 100 letters, digits, `.`, `_` or `-`, not `.` or `..`, and not look like a hash"
        )));
    }
    Ok(())
}

/// List every module, newest first.
#[utoipa::path(get, path = "/v1/modules", responses((status = 200, body = Vec<ModuleView>)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<ModuleView>>> {
    let modules = tenancy::modules(&state, &caller).await?;
    Ok(Json(modules.into_iter().map(|m| views::module(m, None)).collect()))
}

/// Look up a module by hash or name.
#[utoipa::path(get, path = "/v1/modules/{id}", params(("id" = String, Path, description = "hash or name")),
    responses((status = 200, body = ModuleView), (status = 400, body = ErrorBody, description = "a NUL or invalid UTF-8 in the URL"),
              (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<ModuleView>> {
    let module = tenancy::module(&state, &caller, &id).await?;
    Ok(Json(views::module(module, None)))
}

/// What a module exports: whether it is a command, and the functions a job may call with
/// their parameter and result types (`{"command": bool, "functions": {NAME: {"params":
/// [{"name", "of": TYPE}], "results": [TYPE]}}}`, a TYPE being `{"type": "s32"}`, `{"type":
/// "list", "of": TYPE}`, …).
#[utoipa::path(get, path = "/v1/modules/{id}/exports", params(("id" = String, Path, description = "hash or name")),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody, description = "a NUL or invalid UTF-8 in the URL"),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "a module uploaded before wasmpool kept its exports")))]
pub async fn exports(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let module = tenancy::module(&state, &caller, &id).await?;
    let exports = module.exports.ok_or_else(|| {
        ApiError::conflict(format!(
            "module `{id}` was uploaded before wasmpool kept what modules export: upload it again"
        ))
    })?;
    Ok(Json(serde_json::from_str(&exports).map_err(ApiError::internal)?))
}

/// Delete a module (409 while queued or running jobs use it).
#[utoipa::path(delete, path = "/v1/modules/{id}", params(("id" = String, Path, description = "hash or name")),
    responses((status = 204), (status = 400, body = ErrorBody, description = "a NUL or invalid UTF-8 in the URL"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let module = tenancy::module(&state, &caller, &id).await?;
    if state.store.module_owners(&module.hash).await? > 1 {
        // Another tenant uploaded these bytes too: they stay, the caller's claim goes.
        state.store.disown_module(caller.tenant.clone(), module.hash.clone()).await?;
    } else {
        state.library.delete(&module.hash).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
