//! `/v1/workflows`: jobs submitted together with `after` (or run after existing jobs), read
//! as one graph, cancelled or retried as one.

use std::collections::BTreeMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::IntoParams;
use wasmpool_protocol::workflow::{
    WorkflowChanged, WorkflowJob, WorkflowPage, WorkflowState, WorkflowSummary, WorkflowView,
};

use super::auth::Caller;
use super::views::timestamp;
use super::{ApiError, ApiResult, AppState};
use crate::job::JobState;
use crate::store::workflow::WorkflowRecord;
use crate::wire::ErrorBody;

fn workflow_id(text: &str) -> ApiResult<i64> {
    match text.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(ApiError::bad_request(format!(
            "`{text}` is not a workflow id (a positive integer)"
        ))),
    }
}

/// The caller's workflow `id`: 404 when there is none, or it is another tenant's (its jobs
/// are all one tenant's, so its first job says whose).
async fn find(state: &AppState, caller: &Caller, id: i64) -> ApiResult<WorkflowRecord> {
    let missing = || ApiError::not_found(format!("no workflow {id}"));
    let record = state.store.workflow(id).await?.ok_or_else(missing)?;
    let first = record.jobs.iter().map(|job| job.id).min().ok_or_else(missing)?;
    match state.store.job(first).await? {
        Some(job) if caller.owns(&job.tenant) => Ok(record),
        _ => Err(missing()),
    }
}

fn view(record: WorkflowRecord) -> WorkflowView {
    let mut parents: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for &(parent, child) in &record.edges {
        parents.entry(child).or_default().push(parent);
    }
    let jobs: Vec<WorkflowJob> = record
        .jobs
        .into_iter()
        .map(|job| WorkflowJob {
            after: parents.remove(&job.id).unwrap_or_default(),
            id: job.id,
            name: job.name,
            state: job.state,
            on_parent_failure: job.on_parent_failure,
            error: job.error,
        })
        .collect();
    WorkflowView {
        id: record.id,
        state: WorkflowState::of(jobs.iter().map(|job| job.state)),
        created_at: timestamp(record.created_at),
        jobs,
        edges: record.edges.into_iter().map(|(parent, child)| [parent, child]).collect(),
    }
}

/// A workflow: every job with its state and parents, its edges, and its state (`running`
/// while a job has not ended; then `failed` if one failed or timed out, `cancelled` if one
/// was cancelled, else `succeeded`).
#[utoipa::path(get, path = "/v1/workflows/{id}", params(("id" = i64, Path, minimum = 1)),
    responses((status = 200, body = WorkflowView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<WorkflowView>> {
    Ok(Json(view(find(&state, &caller, workflow_id(&id)?).await?)))
}

/// Query of a workflow listing.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// At most this many (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Only workflows older than this one (the id of the last of the previous page).
    #[param(minimum = 1)]
    before: Option<i64>,
}

/// Workflows, newest first, each with its jobs counted by state.
#[utoipa::path(get, path = "/v1/workflows", params(ListQuery),
    responses((status = 200, body = WorkflowPage), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<WorkflowPage>> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be an integer from 1 to 1000"));
    }
    if query.before.is_some_and(|before| before < 1) {
        return Err(ApiError::bad_request("before must be a workflow id (a positive integer)"));
    }
    let found = state.store.workflows(limit, query.before, &caller.tenant).await?;
    let workflows = found
        .into_iter()
        .map(|brief| {
            let states = brief.counts.keys().copied();
            WorkflowSummary {
                id: brief.id,
                state: WorkflowState::of(states),
                created_at: timestamp(brief.created_at),
                counts: brief.counts,
            }
        })
        .collect();
    Ok(Json(WorkflowPage { workflows }))
}

/// Cancel every job of the workflow that has not ended (waiting, queued or running: running
/// ones are stopped on whichever host runs them), in one transaction.
#[utoipa::path(post, path = "/v1/workflows/{id}/cancel", params(("id" = i64, Path, minimum = 1)),
    responses((status = 200, body = WorkflowChanged), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<WorkflowChanged>> {
    let id = workflow_id(&id)?;
    find(&state, &caller, id).await?;
    let bulk = state.store.cancel_workflow(id).await?;
    for &(job, was) in &bulk.changed {
        if was == JobState::Running {
            state.lanes.cancel(job);
        }
    }
    tracing::info!(workflow = id, changed = bulk.changed.len(), "workflow cancelled");
    let now = view(find(&state, &caller, id).await?);
    Ok(Json(WorkflowChanged { id, changed: bulk.changed.len() as u64, state: now.state }))
}

/// Run the workflow's jobs that did not succeed again (failed, timed out, cancelled or
/// skipped), in one transaction: each waits again for its parents that did not succeed, or
/// is queued at once when there are none.
#[utoipa::path(post, path = "/v1/workflows/{id}/retry", params(("id" = i64, Path, minimum = 1)),
    responses((status = 200, body = WorkflowChanged), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub async fn retry(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<WorkflowChanged>> {
    state.refuse_if_draining()?;
    let id = workflow_id(&id)?;
    find(&state, &caller, id).await?;
    let Some(changed) = state.store.retry_workflow(id).await? else {
        return Err(ApiError::not_found(format!("no workflow {id}")));
    };
    tracing::info!(workflow = id, changed = changed.len(), "workflow retried");
    let now = view(find(&state, &caller, id).await?);
    Ok(Json(WorkflowChanged { id, changed: changed.len() as u64, state: now.state }))
}
