//! `/v1/tokens`: make, list and revoke tenants' tokens. A token's secret is answered once,
//! when it is made; the store keeps its SHA-256. The service's admin (`serve --token`, the
//! default tenant's admin) manages every tenant's tokens and makes tenants by naming them; a
//! tenant's admin manages its own tenant's only (another tenant's token answers 404).

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use bytes::Bytes;
use wasmpool_protocol::validate::check_name;

use super::auth::{Caller, new_secret, secret_hash};
use super::views::timestamp;
use super::{ApiError, ApiResult, AppState, body, json};
use crate::store::{NewToken, TokenRecord};
use crate::wire::{CallerView, ErrorBody, TokenCreated, TokenRequest, TokenView, token_lifetime};

fn view(token: TokenRecord) -> TokenView {
    TokenView {
        id: token.id,
        tenant: token.tenant,
        scope: token.scope,
        created_at: timestamp(token.created_at),
        expires_at: token.expires_at.map(timestamp),
        revoked_at: token.revoked_at.map(timestamp),
    }
}

/// `expires_in` as a duration.
fn lasts(text: &str) -> ApiResult<Duration> {
    token_lifetime(text).ok_or_else(|| {
        ApiError::bad_request(format!(
            "expires_in `{text}` must be a whole number (1 to 999999) and a unit, s, m, h or d: \
             30d, 12h, 90m"
        ))
    })
}

/// Make a token for a tenant (the caller's own unless the service's admin names another,
/// which makes that tenant if it is new). The answer holds the secret: it is shown only now.
#[utoipa::path(post, path = "/v1/tokens", request_body = TokenRequest,
    responses((status = 201, body = TokenCreated), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "not an admin token, or another tenant's without being the service's admin"),
              (status = 415, body = ErrorBody, description = "a body of another content type")))]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    request: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<TokenCreated>)> {
    let request: TokenRequest =
        json(&body(request, state.limits.max_request_bytes, "the request")?)?;
    let tenant = request.tenant.unwrap_or_else(|| caller.tenant.clone());
    check_name("tenant", &tenant)?;
    if tenant != caller.tenant && !caller.is_service_admin() {
        return Err(ApiError::forbidden(format!(
            "a token of tenant `{}` makes tokens of its own tenant only",
            caller.tenant
        )));
    }
    let lasts = request.expires_in.as_deref().map(lasts).transpose()?;
    let secret = new_secret();
    let new = NewToken { tenant, scope: request.scope, secret_hash: secret_hash(&secret), lasts };
    let made = state.store.create_token(new).await?;
    tracing::info!(token = made.id, tenant = made.tenant, scope = %made.scope, "token made");
    Ok((
        StatusCode::CREATED,
        Json(TokenCreated {
            id: made.id,
            token: secret,
            tenant: made.tenant,
            scope: made.scope,
            created_at: timestamp(made.created_at),
            expires_at: made.expires_at.map(timestamp),
        }),
    ))
}

/// Every token the caller manages (without secrets), oldest first: the service's admin sees
/// every tenant's, a tenant's admin its own tenant's.
#[utoipa::path(get, path = "/v1/tokens",
    responses((status = 200, body = Vec<TokenView>), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<TokenView>>> {
    let tenant = (!caller.is_service_admin()).then_some(caller.tenant.as_str());
    let tokens = state.store.tokens(tenant).await?;
    Ok(Json(tokens.into_iter().map(view).collect()))
}

/// Revoke a token: it stops working at once, on every host sharing the store.
#[utoipa::path(delete, path = "/v1/tokens/{id}", params(("id" = i64, Path, minimum = 1)),
    responses((status = 204, description = "revoked"), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = match id.parse::<i64>() {
        Ok(id) if id > 0 => id,
        _ => return Err(ApiError::bad_request(format!("`{id}` is not a token id"))),
    };
    let tenant = (!caller.is_service_admin()).then(|| caller.tenant.clone());
    if !state.store.revoke_token(id, tenant).await? {
        return Err(ApiError::not_found(format!("no token {id}")));
    }
    tracing::info!(token = id, "token revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// Who the caller's token acts for: its tenant, its scope, whether it is the service's admin.
#[utoipa::path(get, path = "/v1/me", responses((status = 200, body = CallerView)))]
pub async fn me(Extension(caller): Extension<Caller>) -> axum::Json<CallerView> {
    let service_admin = caller.is_service_admin();
    Json(CallerView { tenant: caller.tenant, scope: caller.scope, service_admin })
}
