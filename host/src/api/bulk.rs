//! `POST /v1/jobs/retry`, `POST /v1/jobs/cancel` and `POST /v1/jobs/delete`: one action on
//! every job a filter selects, in one transaction of the store.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use bytes::Bytes;

use super::auth::Caller;
use super::{ApiError, ApiResult, AppState, body, json, selector};
use crate::job::JobState;
use crate::store::{Bulk, JobFilter};
use crate::wire::{BulkResult, DeleteResult, ErrorBody, JobSelector};

/// The body's filter and whether it asks for a dry run; a filter that selects everything is
/// refused, so that a forgotten field never retries or cancels every job.
async fn filter(
    state: &AppState,
    caller: &Caller,
    request: Result<Bytes, BytesRejection>,
) -> ApiResult<(JobFilter, bool)> {
    let selected: JobSelector =
        json(&body(request, state.limits.max_request_bytes, "the filter")?)?;
    let filter = selector::filter(state, caller, &selected).await?;
    if filter.selects_everything() {
        return Err(ApiError::bad_request(
            "the filter is empty: give at least one of state, module, node, schedule, name, q, \
             submitted_after, submitted_before (acting on every job is never the default)",
        ));
    }
    Ok((filter, selected.dry_run))
}

/// States in the API document what [`filter`] refuses and no derived schema can say: a
/// selector names at least one filter (a field, and not only `dry_run`).
pub fn describe(document: &mut serde_json::Value) {
    let selector = &mut document["components"]["schemas"]["JobSelector"];
    selector["minProperties"] = 1.into();
    selector["dependentSchemas"] = serde_json::json!({ "dry_run": { "minProperties": 2 } });
}

fn answer(bulk: &Bulk) -> Json<BulkResult> {
    Json(BulkResult { matched: bulk.matched, changed: bulk.changed.len() as u64 })
}

/// A dry run's answer: what the filter selects, and how many of those are in `states`, the
/// ones the action would change. Counted in one read, so a confirmation costs the same for
/// ten jobs or a million.
async fn count(
    state: &AppState,
    filter: &JobFilter,
    states: &[JobState],
) -> ApiResult<Json<BulkResult>> {
    let counts = state.store.count_matching(filter).await?;
    let changed = states.iter().filter_map(|s| counts.get(s)).sum();
    Ok(Json(BulkResult { matched: counts.values().sum(), changed }))
}

/// Retry every failed, timed-out or cancelled job the filter selects, each as a new attempt,
/// in one transaction; selected jobs in other states are left alone. With `"dry_run": true`,
/// only count: `matched` jobs, `changed` of them would be retried.
#[utoipa::path(post, path = "/v1/jobs/retry", request_body = JobSelector,
    responses((status = 200, body = BulkResult), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 415, body = ErrorBody, description = "a body of another content type"), (status = 503, body = ErrorBody)))]
pub async fn retry(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    request: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<BulkResult>> {
    let (filter, dry_run) = filter(&state, &caller, request).await?;
    if dry_run {
        return count(&state, &filter, &JobState::RETRYABLE).await;
    }
    state.refuse_if_draining()?;
    let bulk = state.store.retry_matching(&filter).await?;
    tracing::info!(matched = bulk.matched, changed = bulk.changed.len(), "jobs retried in bulk");
    Ok(answer(&bulk))
}

/// Cancel every queued or running job the filter selects, in one transaction: queued ones
/// never start, running ones are stopped on whichever host runs them; selected jobs that have
/// ended are left alone. With `"dry_run": true`, only count: `matched` jobs, `changed` of
/// them would be cancelled.
#[utoipa::path(post, path = "/v1/jobs/cancel", request_body = JobSelector,
    responses((status = 200, body = BulkResult), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 415, body = ErrorBody, description = "a body of another content type"), (status = 503, body = ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    request: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<BulkResult>> {
    let (filter, dry_run) = filter(&state, &caller, request).await?;
    if dry_run {
        return count(&state, &filter, &JobState::CANCELLABLE).await;
    }
    let bulk = state.store.cancel_matching(&filter).await?;
    // As a single cancel does: this host stops its own; other hosts stop theirs when they
    // hear of the transition (or at their next heartbeat).
    for &(id, was) in &bulk.changed {
        if was == JobState::Running {
            state.lanes.cancel(id);
        }
    }
    tracing::info!(matched = bulk.matched, changed = bulk.changed.len(), "jobs cancelled in bulk");
    Ok(answer(&bulk))
}

/// Delete every ended (succeeded, failed, timed-out or cancelled) job the filter selects,
/// with its output and attempt history, in one transaction; selected queued or running jobs
/// are left alone. With `"dry_run": true`, only count: `matched` jobs, `deleted` of them would
/// be deleted.
#[utoipa::path(post, path = "/v1/jobs/delete", request_body = JobSelector,
    responses((status = 200, body = DeleteResult), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 415, body = ErrorBody, description = "a body of another content type")))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    request: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<DeleteResult>> {
    let (filter, dry_run) = filter(&state, &caller, request).await?;
    if dry_run {
        let Json(counted) = count(&state, &filter, &JobState::DELETABLE).await?;
        return Ok(Json(DeleteResult { matched: counted.matched, deleted: counted.changed }));
    }
    let bulk = state.store.delete_matching(&filter).await?;
    tracing::info!(matched = bulk.matched, deleted = bulk.changed.len(), "jobs deleted in bulk");
    let ids: Vec<_> = bulk.changed.iter().map(|&(id, _)| id).collect();
    state.events.deleted(&caller.tenant, &ids);
    Ok(Json(DeleteResult { matched: bulk.matched, deleted: bulk.changed.len() as u64 }))
}
