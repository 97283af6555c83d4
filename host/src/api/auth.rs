//! Who is asking: the bearer token of a `/v1` request turned into a [`Caller`] (a tenant and
//! a scope), and the scope each route needs ([`needs`]), checked before the handler runs.
//!
//! Two kinds of token: `serve --token`'s, compared in constant time without the store (the
//! default tenant's admin: the service's admin), and tokens made through `/v1/tokens`
//! (`wpt_` and 64 hex digits), looked up by their SHA-256 in the store on every request, so
//! a revocation or an expiry holds at once on every host sharing the store. The lookup is
//! one indexed read; `serve --token` alone never pays it.

use std::time::SystemTime;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use wasmpool_protocol::validate::DEFAULT_TENANT;

use super::AppState;
use super::error::ApiError;
use super::error::ApiResult;
use crate::wire::Scope;

/// What a made token's secret starts with, so it is told from `serve --token`'s at a glance
/// (and by a secret scanner).
pub const TOKEN_PREFIX: &str = "wpt_";

/// Who a request acts for, put in its extensions by [`require_token`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The tenant whose jobs, modules, schedules and queues it sees.
    pub tenant: String,
    /// What it may do.
    pub scope: Scope,
}

impl Caller {
    /// The service's admin: `serve --token`, or anyone on a service without a token.
    pub fn service() -> Caller {
        Caller { tenant: DEFAULT_TENANT.to_string(), scope: Scope::Admin }
    }

    /// Whether it may manage every tenant's tokens: the default tenant's admin.
    pub fn is_service_admin(&self) -> bool {
        self.scope == Scope::Admin && self.tenant == DEFAULT_TENANT
    }

    /// Whether something of `tenant`'s is its own to see.
    pub fn owns(&self, tenant: &str) -> bool {
        self.tenant == tenant
    }

    /// The name under which the caller's own name `name` (of a queue, schedule, module) is
    /// stored: itself for the default tenant, `TENANT:name` for another (a name never holds
    /// `:`, so no two tenants' names meet).
    pub fn stored_name(&self, name: &str) -> String {
        crate::store::stored_name(&self.tenant, name)
    }

    /// The caller's own name for a stored name, `None` when it is another tenant's.
    pub fn own_name<'a>(&self, stored: &'a str) -> Option<&'a str> {
        let (tenant, name) = crate::store::split_name(stored);
        (tenant == self.tenant).then_some(name)
    }
}

/// Hex SHA-256 of a secret: what the store keeps of a token.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new token's secret: 32 random bytes, hex, after [`TOKEN_PREFIX`].
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// Finds the caller, refuses one without the scope the route needs (403 `forbidden`), and
/// hands the [`Caller`] to the handler.
pub async fn require_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let offered = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_token)
        .map(str::to_string);
    let caller = caller(&state, offered.as_deref()).await?;
    let route = request.extensions().get::<MatchedPath>().map_or("", MatchedPath::as_str);
    let needed = needs(request.method(), route);
    if caller.scope < needed {
        return Err(ApiError::forbidden(format!(
            "this token's scope is `{}`; {} {route} needs `{needed}`",
            caller.scope,
            request.method()
        )));
    }
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

/// The caller a token stands for. Without `serve --token`, a request without a made token
/// is the service's admin, as before tenants (the service then listens on loopback only).
async fn caller(state: &AppState, offered: Option<&str>) -> ApiResult<Caller> {
    if let (Some(expected), Some(offered)) = (&state.token, offered)
        && same_secret(offered, expected)
    {
        return Ok(Caller::service());
    }
    match offered {
        Some(secret) if secret.starts_with(TOKEN_PREFIX) => {
            let found = state.store.token_by_hash(&secret_hash(secret)).await?;
            match found {
                Some(token) if token.in_force(SystemTime::now()) => {
                    Ok(Caller { tenant: token.tenant, scope: token.scope })
                }
                _ => Err(ApiError::unauthorized()),
            }
        }
        _ if state.token.is_none() => Ok(Caller::service()),
        _ => Err(ApiError::unauthorized()),
    }
}

/// States the token check in the API document: every `/v1` operation may answer 401 (no
/// token, or an unknown, revoked or expired one) and 403 (a token whose scope does not allow
/// the route), each with the error body.
pub fn describe(document: &mut serde_json::Value) {
    let Some(paths) = document["paths"].as_object_mut() else { return };
    let error = || {
        let schema = serde_json::json!({ "$ref": "#/components/schemas/ErrorBody" });
        serde_json::json!({ "content": { "application/json": { "schema": schema } } })
    };
    let answers = [
        ("401", "no token, or an unknown, revoked or expired one"),
        ("403", "the token's scope does not allow this route"),
    ];
    for (_, operations) in paths.iter_mut().filter(|(path, _)| path.starts_with("/v1/")) {
        let Some(operations) = operations.as_object_mut() else { continue };
        for operation in operations.values_mut() {
            let Some(responses) = operation["responses"].as_object_mut() else { continue };
            for (code, why) in answers {
                responses.entry(code).or_insert_with(|| {
                    let mut answer = error();
                    answer["description"] = why.into();
                    answer
                });
            }
        }
    }
}

/// The scope a route needs: `read` for looking (every `GET`, but the token list), `submit`
/// for a tenant's jobs and queues, `admin` for the rest (modules, schedules, the pool,
/// tokens). A route not named here needs `admin`, so a new one is closed until it is placed.
pub fn needs(method: &Method, route: &str) -> Scope {
    match (method, route) {
        (&Method::GET, "/v1/tokens") => Scope::Admin,
        (&Method::GET | &Method::HEAD, _) => Scope::Read,
        // Waiting on jobs only looks at them.
        (&Method::POST, "/v1/jobs/wait") => Scope::Read,
        (
            &Method::POST,
            "/v1/jobs"
            | "/v1/jobs/batch"
            | "/v1/jobs/{id}/cancel"
            | "/v1/jobs/{id}/retry"
            | "/v1/jobs/cancel"
            | "/v1/jobs/retry"
            | "/v1/jobs/delete"
            | "/v1/run"
            | "/v1/queues/{name}"
            | "/v1/queues/{name}/get"
            | "/v1/workflows/{id}/cancel"
            | "/v1/workflows/{id}/retry",
        ) => Scope::Submit,
        (&Method::DELETE, "/v1/jobs/{id}" | "/v1/queues/{name}") => Scope::Submit,
        // The rest, `PUT`/`DELETE /v1/rate-limits/{name}` among them (like caps), is admin's.
        _ => Scope::Admin,
    }
}

/// The token of `Bearer TOKEN`: the scheme is case-insensitive (RFC 9110, 11.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim_start_matches(' '))
}

/// Compares the digests, so neither the contents nor the length of the token shows in the
/// time taken.
fn same_secret(offered: &str, expected: &str) -> bool {
    let (a, b) = (Sha256::digest(offered.as_bytes()), Sha256::digest(expected.as_bytes()));
    a.iter().zip(b.iter()).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_is_case_insensitive() {
        for header in ["Bearer s3cret", "bearer s3cret", "BEARER s3cret", "Bearer  s3cret"] {
            assert_eq!(super::bearer_token(header), Some("s3cret"), "{header}");
        }
        assert_eq!(super::bearer_token("Basic s3cret"), None);
        assert_eq!(super::bearer_token("Bearers3cret"), None);
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(super::same_secret("s3cret", "s3cret"));
        assert!(!super::same_secret("s3cre", "s3cret"));
        assert!(!super::same_secret("", "s3cret"));
    }

    #[test]
    fn names_are_kept_apart_per_tenant() {
        let default = Caller::service();
        let acme = Caller { tenant: "acme".into(), scope: Scope::Read };
        assert_eq!(default.stored_name("q"), "q");
        assert_eq!(acme.stored_name("q"), "acme:q");
        assert_eq!(acme.own_name("acme:q"), Some("q"));
        assert_eq!(acme.own_name("q"), None);
        assert_eq!(acme.own_name("other:q"), None);
        assert_eq!(default.own_name("acme:q"), None);
        assert_eq!(default.own_name("q"), Some("q"));
    }

    #[test]
    fn looking_needs_read_and_changing_more() {
        assert_eq!(needs(&Method::GET, "/v1/jobs/{id}"), Scope::Read);
        assert_eq!(needs(&Method::GET, "/v1/tokens"), Scope::Admin);
        assert_eq!(needs(&Method::POST, "/v1/jobs"), Scope::Submit);
        assert_eq!(needs(&Method::POST, "/v1/modules"), Scope::Admin);
        assert_eq!(needs(&Method::POST, "/v1/some/new/route"), Scope::Admin);
        // A tenant's rate limits: anyone of it reads them, its admin sets and removes them.
        assert_eq!(needs(&Method::GET, "/v1/rate-limits"), Scope::Read);
        assert_eq!(needs(&Method::PUT, "/v1/rate-limits/{name}"), Scope::Admin);
        assert_eq!(needs(&Method::DELETE, "/v1/rate-limits/{name}"), Scope::Admin);
    }
}
