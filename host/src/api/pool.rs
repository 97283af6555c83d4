//! `/v1/pool`, `/metrics`, `/healthz` and `/v1/openapi.json`.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use super::auth::Caller;
use super::{ApiError, ApiResult, AppState, tenancy, views};
use crate::wire::{PoolView, WorkerView};

/// The pool as it stands: workers (with their jobs) of every live host, counts (of the whole
/// cluster), this host's throughput.
pub(super) async fn view(state: &AppState) -> ApiResult<PoolView> {
    let snapshot = state.lanes.snapshot();
    let counts = state.store.counts().await?;
    let restarts = snapshot.restarts;
    let mut workers = local_workers_of(state, snapshot).await?;
    if state.store.is_shared() {
        workers.extend(other_hosts_workers(state).await?);
    }
    let lanes = views::lanes(&workers, state.store.lane_counts().await?);
    Ok(views::pool(
        workers,
        restarts,
        counts,
        state.lanes.paused(),
        state.draining.load(Ordering::SeqCst),
        state.events.throughput(),
        lanes,
    ))
}

/// This host's workers as the API shows them (what its heartbeat tells the other hosts).
pub async fn local_workers(state: &AppState) -> ApiResult<Vec<WorkerView>> {
    local_workers_of(state, state.lanes.snapshot()).await
}

async fn local_workers_of(
    state: &AppState,
    snapshot: crate::pool::Snapshot,
) -> ApiResult<Vec<WorkerView>> {
    let briefs = state.store.briefs(&views::busy_jobs(&snapshot)).await?;
    let briefs = briefs.into_iter().map(|brief| (brief.id, brief)).collect();
    Ok(views::workers(snapshot, &briefs, &state.node.name, &state.lanes.slot_lanes()))
}

/// The workers of the other live hosts, as of their last heartbeat.
async fn other_hosts_workers(state: &AppState) -> ApiResult<Vec<WorkerView>> {
    let mut workers = Vec::new();
    for node in state.store.nodes().await? {
        let live = matches!(node.state.as_str(), "alive" | "draining");
        if !live || node.name == state.node.name {
            continue;
        }
        let Ok(theirs) = serde_json::from_value::<Vec<WorkerView>>(node.pool) else { continue };
        workers.extend(
            theirs.into_iter().map(|worker| WorkerView { node: Some(node.name.clone()), ..worker }),
        );
    }
    Ok(workers)
}

/// The pool: capacity, every worker, jobs per state.
#[utoipa::path(get, path = "/v1/pool", responses((status = 200, body = PoolView)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<PoolView>> {
    Ok(Json(view_for(&state, &caller).await?))
}

/// The pool is every tenant's: only the service's admin pauses or resumes it.
fn service_admin(caller: &Caller) -> ApiResult<()> {
    if caller.is_service_admin() {
        return Ok(());
    }
    Err(ApiError::forbidden(
        "the pool is shared by every tenant: only the service's admin pauses or resumes it",
    ))
}

/// [`view`] as the caller may see it.
async fn view_for(state: &AppState, caller: &Caller) -> ApiResult<PoolView> {
    let pool = view(state).await?;
    let tenants = tenancy::worker_tenants(state, &pool).await?;
    Ok(tenancy::own_pool(caller, pool, &tenants))
}

/// Stop handing out queued jobs, on every host (running ones finish).
#[utoipa::path(post, path = "/v1/pool/pause", responses((status = 200, body = PoolView)))]
pub async fn pause(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<PoolView>> {
    service_admin(&caller)?;
    state.store.set_paused(true).await?;
    state.lanes.set_paused(true);
    Ok(Json(view_for(&state, &caller).await?))
}

/// Hand out queued jobs again, on every host.
#[utoipa::path(post, path = "/v1/pool/resume", responses((status = 200, body = PoolView)))]
pub async fn resume(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<PoolView>> {
    service_admin(&caller)?;
    state.store.set_paused(false).await?;
    state.lanes.set_paused(false);
    Ok(Json(view_for(&state, &caller).await?))
}

/// Metrics in the OpenMetrics text format (which Prometheus scrapes).
#[utoipa::path(get, path = "/metrics", responses((status = 200, content_type = "application/openmetrics-text", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    let counts = state.store.counts().await?;
    let text = state.metrics.render(&counts, &state.lanes.snapshot());
    // prometheus-client writes OpenMetrics (`# EOF` at the end, counters' `_total`), so say
    // that: under the Prometheus 0.0.4 type a strict parser refuses the `# EOF` line.
    Ok(([(CONTENT_TYPE, OPENMETRICS)], text))
}

/// The content type of `/metrics`.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Health: `{"status":"ok"}` while the service takes work; 503 `{"status":"draining"}` once
/// it shuts down, and 503 `{"status":"out_of_cluster","reason":…}` while a host declared lost
/// cannot join its cluster again (so a load balancer sends new work elsewhere).
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = serde_json::Value),
    (status = 503, body = serde_json::Value, description = "draining, or out of the cluster")))]
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    if state.draining.load(Ordering::SeqCst) {
        let body = Json(serde_json::json!({ "status": "draining" }));
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, body);
    }
    if let Some(reason) = state.standing.out() {
        let body = Json(serde_json::json!({ "status": "out_of_cluster", "reason": reason }));
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, body);
    }
    (axum::http::StatusCode::OK, Json(serde_json::json!({ "status": "ok" })))
}

/// This API's OpenAPI 3 document.
#[utoipa::path(get, path = "/v1/openapi.json", responses((status = 200, body = serde_json::Value)))]
pub async fn openapi(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    let document =
        state.openapi.get().ok_or_else(|| ApiError::internal("the OpenAPI document is missing"))?;
    Ok(([(CONTENT_TYPE, "application/json")], document.clone()))
}
