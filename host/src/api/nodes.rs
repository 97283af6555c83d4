//! `/v1/nodes`: the hosts of the cluster.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;

use super::{ApiResult, AppState, views};
use crate::wire::NodeView;

/// Every host of the cluster, alive, draining, lost or left (the newest incarnation of each
/// name). With the embedded SQLite store there is one host: this one.
#[utoipa::path(get, path = "/v1/nodes", responses((status = 200, body = Vec<NodeView>)))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<NodeView>>> {
    if state.store.is_shared() {
        let nodes = state.store.nodes().await?;
        return Ok(Json(nodes.into_iter().map(views::node).collect()));
    }
    let now = views::timestamp(std::time::SystemTime::now());
    let snapshot = state.lanes.snapshot();
    let busy = views::busy_jobs(&snapshot).len() as u64;
    Ok(Json(vec![NodeView {
        name: state.node.name.clone(),
        address: state.node.address.clone(),
        version: state.node.version.clone(),
        workers: snapshot.workers.len() as u64,
        busy,
        started_at: views::timestamp(state.started_at),
        heartbeat_at: now,
        state: if state.draining.load(Ordering::SeqCst) { "draining" } else { "alive" }.into(),
    }]))
}
