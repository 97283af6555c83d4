//! The HTTP API: axum routes under `/v1` (behind the token check), `/metrics`, `/healthz`,
//! and the OpenAPI document generated from the handlers' annotations. Handlers validate, call
//! the store, library and dispatcher, and answer JSON; every error is an [`ApiError`].

mod access;
mod after;
mod auth;
mod bulk;
mod error;
mod events;
mod guard;
mod jobs;
mod limits;
mod modules;
mod nodes;
mod output;
mod pool;
mod queues;
mod schedules;
mod selector;
mod stats;
mod tenancy;
pub(crate) mod tenants;
mod text;
mod tokens;
mod validate;
mod views;
mod wait;
mod waits;
mod web;
mod workflows;

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::{ApiError, ApiResult};
pub use events::run_hub;
pub use guard::HostRules;
pub use pool::local_workers;
pub use validate::ServiceLimits;

use crate::lanes::Lanes;
use crate::library::Library;
use crate::live::LiveOutput;
use crate::metrics::Metrics;
use crate::mounts::Mounts;
use crate::queues::Queues;
use crate::store::{NodeInfo, Store};

/// The parts the service is made of, handed to [`Services::new`].
pub struct Parts {
    /// The job store.
    pub store: Store,
    /// Uploaded modules.
    pub library: Arc<Library>,
    /// This host's lanes: their worker processes and dispatchers (cancel, pause, snapshot).
    pub lanes: Arc<Lanes>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Named queues.
    pub queues: Queues,
    /// The output of the jobs running on this host, so far.
    pub live: Arc<LiveOutput>,
    /// Defaults and maxima.
    pub limits: ServiceLimits,
    /// The directories jobs may be granted (`serve --mount`).
    pub mounts: Arc<Mounts>,
    /// The API token, if one is required.
    pub token: Option<String>,
    /// The `Host` names the service answers to.
    pub hosts: HostRules,
    /// This host as a node of the cluster.
    pub node: NodeInfo,
    /// When this host started.
    pub started_at: std::time::SystemTime,
    /// Whether this host is out of the cluster (`/healthz` says so).
    pub standing: crate::cluster::Standing,
}

/// What the handlers work with: the parts, and the API's own state.
pub struct Services {
    parts: Parts,
    /// Set while the service shuts down: submissions get 503.
    pub draining: AtomicBool,
    /// Cancelled when the HTTP server stops: ends the event streams.
    pub closing: CancellationToken,
    events: events::EventHub,
    openapi: OnceLock<String>,
}

impl Deref for Services {
    type Target = Parts;
    fn deref(&self) -> &Parts {
        &self.parts
    }
}

impl Services {
    /// Bundles the parts for the router; `closing` is cancelled when the HTTP server stops.
    pub fn new(parts: Parts, closing: CancellationToken) -> Self {
        Services {
            parts,
            draining: AtomicBool::new(false),
            closing,
            events: events::EventHub::default(),
            openapi: OnceLock::new(),
        }
    }

    /// Refuses a lane that no live host serves: on SQLite, one this host does not serve; on
    /// PostgreSQL, one no live host of the cluster serves (asked only when this host does not
    /// serve it, so submissions to this host's lanes cost no query).
    async fn check_lane(&self, lane: &str) -> ApiResult<()> {
        if self.lanes.serves(lane) {
            return Ok(());
        }
        let served = self.store.lanes_served().await?;
        if served.iter().any(|name| name == lane) {
            return Ok(());
        }
        let mut names: Vec<String> = self.lanes.iter().map(|lane| lane.name.clone()).collect();
        names.extend(served);
        names.sort();
        names.dedup();
        Err(ApiError::unknown_lane(format!("no lane `{lane}`; lanes: {}", names.join(", "))))
    }

    /// Refuses a job that asks for a directory this host does not declare (hosts of a
    /// cluster declare the same ones: a job is checked where it is submitted).
    fn check_mounts(&self, wanted: &[crate::wire::Mount]) -> ApiResult<()> {
        match self.mounts.missing(wanted) {
            Some(message) => Err(ApiError::unknown_mount(message)),
            None => Ok(()),
        }
    }

    fn refuse_if_draining(&self) -> ApiResult<()> {
        if self.draining.load(Ordering::SeqCst) {
            return Err(ApiError::unavailable("the service is shutting down; submit again later"));
        }
        Ok(())
    }
}

/// Shared state of the router.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    /// The state for the router and the event hub.
    pub fn new(services: Arc<Services>) -> Self {
        AppState(services)
    }
}

impl Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "wasmpool",
        description = "A job pool for WebAssembly: WASI programs on sandboxed worker processes."
    ),
    components(schemas(crate::wire::ErrorBody, crate::wire::JobEventView, crate::wire::PoolView))
)]
struct ApiDoc;

/// Writes the schema of every raw body (`.wasm` uploads, queue items) as bytes: utoipa
/// writes `Vec<u8>` as an array of integers.
fn describe_raw_bodies(value: &mut serde_json::Value) {
    const RAW: [&str; 2] = ["application/wasm", "application/octet-stream"];
    match value {
        serde_json::Value::Object(object) => {
            if let Some(content) = object.get_mut("content").and_then(|c| c.as_object_mut()) {
                for (media_type, media) in content.iter_mut() {
                    if RAW.contains(&media_type.as_str()) {
                        media["schema"] =
                            serde_json::json!({ "type": "string", "format": "binary" });
                    }
                }
            }
            object.values_mut().for_each(describe_raw_bodies);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(describe_raw_bodies),
        _ => {}
    }
}

/// Builds the whole application.
pub fn router(state: AppState) -> Router {
    let v1 = OpenApiRouter::new()
        .routes(routes!(modules::upload, modules::list))
        .routes(routes!(modules::get, modules::delete, modules::patch))
        .routes(routes!(modules::exports))
        .routes(routes!(jobs::submit, jobs::list))
        .routes(routes!(jobs::submit_batch))
        .routes(routes!(jobs::get, jobs::cancel_or_delete))
        .routes(routes!(waits::wait))
        .routes(routes!(waits::wait_many))
        .routes(routes!(jobs::cancel))
        .routes(routes!(jobs::retry))
        .routes(routes!(bulk::retry))
        .routes(routes!(bulk::cancel))
        .routes(routes!(bulk::delete))
        .routes(routes!(output::output))
        .routes(routes!(jobs::run))
        .routes(routes!(pool::get))
        .routes(routes!(pool::pause))
        .routes(routes!(pool::resume))
        .routes(routes!(nodes::list))
        .routes(routes!(pool::openapi))
        .routes(routes!(events::events))
        .routes(routes!(queues::put, queues::purge))
        .routes(routes!(queues::items))
        .routes(routes!(queues::get))
        .routes(routes!(queues::list))
        .routes(routes!(schedules::create, schedules::list))
        .routes(routes!(schedules::get, schedules::patch, schedules::delete))
        .routes(routes!(schedules::run))
        .routes(routes!(stats::modules))
        .routes(routes!(stats::history))
        .routes(routes!(workflows::list))
        .routes(routes!(workflows::get))
        .routes(routes!(workflows::cancel))
        .routes(routes!(workflows::retry))
        .routes(routes!(tokens::create, tokens::list))
        .routes(routes!(tokens::revoke))
        .routes(routes!(tokens::me))
        .routes(routes!(tenants::get, tenants::put))
        .routes(routes!(limits::list))
        .routes(routes!(limits::put, limits::delete))
        // Layers run outside in: the token (and the scope the route needs) first, then the
        // content type, then the URL's text.
        .route_layer(axum::middleware::from_fn(text::check_url))
        .route_layer(axum::middleware::from_fn(guard::check_content_type))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_token));
    let public = OpenApiRouter::new().routes(routes!(pool::metrics)).routes(routes!(pool::healthz));
    let (router, document) =
        OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(v1).merge(public).split_for_parts();
    let mut document = serde_json::to_value(&document).expect("the OpenAPI document serialises");
    events::describe_events(&mut document);
    describe_raw_bodies(&mut document);
    schedules::describe(&mut document);
    jobs::describe(&mut document);
    bulk::describe(&mut document);
    text::describe(&mut document);
    auth::describe(&mut document);
    let _ = state.openapi.set(serde_json::to_string_pretty(&document).expect("JSON serialises"));
    let body_limit = state.limits.max_module_bytes.max(state.limits.max_request_bytes);
    router
        .route("/", axum::routing::get(web::index))
        .route("/{asset}", axum::routing::get(web::asset))
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::check_host_and_origin))
        // Outermost, so requests the guards refuse are logged too.
        .layer(axum::middleware::from_fn(access::log))
        .with_state(state)
}

/// The body, or the right error for one that could not be read (413 when too large).
fn body(body: Result<Bytes, BytesRejection>, limit: usize, what: &str) -> ApiResult<Bytes> {
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::too_large(format!("{what} is larger than {limit} bytes"))
        }
        _ if crate::http::is_body_timeout(&rejection) => {
            ApiError::request_timeout(format!("{what} did not arrive in time"))
        }
        _ => ApiError::bad_request(format!("cannot read the body: {rejection}")),
    })?;
    if body.len() > limit {
        return Err(ApiError::too_large(format!("{what} is larger than {limit} bytes")));
    }
    Ok(body)
}

/// Parses a JSON body, naming what is wrong with it.
fn json<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("empty body: expected a JSON object"));
    }
    text::check_json(body)?;
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

/// A body that must be one JSON object, read as `T`; `what` names it in the refusals (`the
/// quotas`, `the rate limit`). Kept apart from [`json`] so a non-object (an array, a number)
/// is refused as such before its fields are looked at.
fn json_object<T: DeserializeOwned>(body: &[u8], what: &str) -> ApiResult<T> {
    let value: serde_json::Value = json(body)?;
    if !value.is_object() {
        return Err(ApiError::bad_request(format!("{what} must be a JSON object")));
    }
    serde_json::from_value(value).map_err(|e| {
        ApiError::bad_request(format!("invalid {}: {e}", what.trim_start_matches("the ")))
    })
}

/// Parses a job id from the path.
fn job_id(text: &str) -> ApiResult<i64> {
    match text.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(ApiError::bad_request(format!("`{text}` is not a job id (a positive integer)"))),
    }
}
