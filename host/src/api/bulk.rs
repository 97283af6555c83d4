//! `POST /v1/jobs/retry`, `POST /v1/jobs/cancel` and `POST /v1/jobs/delete`: one action on
//! every job a filter selects, in one transaction of the store.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use bytes::Bytes;

use super::{ApiError, ApiResult, AppState, body, json, selector};
use crate::store::{Bulk, JobFilter};
use crate::wire::{BulkResult, DeleteResult, ErrorBody, JobSelector, JobState};

/// The body's filter; one that selects everything is refused, so that a forgotten field
/// never retries or cancels every job.
async fn filter(state: &AppState, request: Result<Bytes, BytesRejection>) -> ApiResult<JobFilter> {
    let (filter, dry_run) = selected(state, request).await?;
    if dry_run {
        // Never act on a request that asked only to count.
        return Err(ApiError::bad_request("`dry_run` is taken by POST /v1/jobs/delete only"));
    }
    Ok(filter)
}

/// The body's filter and whether it asks for a dry run.
async fn selected(
    state: &AppState,
    request: Result<Bytes, BytesRejection>,
) -> ApiResult<(JobFilter, bool)> {
    let selected: JobSelector =
        json(&body(request, state.limits.max_request_bytes, "the filter")?)?;
    let filter = selector::filter(state, &selected).await?;
    if filter.selects_everything() {
        return Err(ApiError::bad_request(
            "the filter is empty: give at least one of state, module, node, schedule, name, q, \
             submitted_after, submitted_before (acting on every job is never the default)",
        ));
    }
    Ok((filter, selected.dry_run))
}

fn answer(bulk: &Bulk) -> Json<BulkResult> {
    Json(BulkResult { matched: bulk.matched, changed: bulk.changed.len() as u64 })
}

/// Retry every failed, timed-out or cancelled job the filter selects, each as a new attempt,
/// in one transaction; selected jobs in other states are left alone.
#[utoipa::path(post, path = "/v1/jobs/retry", request_body = JobSelector,
    responses((status = 200, body = BulkResult), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 415, body = ErrorBody, description = "a body of another content type"), (status = 503, body = ErrorBody)))]
pub async fn retry(
    State(state): State<AppState>,
    request: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<BulkResult>> {
    state.refuse_if_draining()?;
    let filter = filter(&state, request).await?;
    let bulk = state.store.retry_matching(&filter).await?;
    tracing::info!(matched = bulk.matched, changed = bulk.changed.len(), "jobs retried in bulk");
    Ok(answer(&bulk))
}

/// Cancel every queued or running job the filter selects, in one transaction: queued ones
/// never start, running ones are stopped on whichever host runs them; selected jobs that have
/// ended are left alone.
#[utoipa::path(post, path = "/v1/jobs/cancel", request_body = JobSelector,
    responses((status = 200, body = BulkResult), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 415, body = ErrorBody, description = "a body of another content type"), (status = 503, body = ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    request: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<BulkResult>> {
    let filter = filter(&state, request).await?;
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
/// are left alone. With `"dry_run": true` nothing changes and `matched` says how many jobs
/// the filter selects.
#[utoipa::path(post, path = "/v1/jobs/delete", request_body = JobSelector,
    responses((status = 200, body = DeleteResult), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 415, body = ErrorBody, description = "a body of another content type")))]
pub async fn delete(
    State(state): State<AppState>,
    request: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<DeleteResult>> {
    let (filter, dry_run) = selected(&state, request).await?;
    let bulk = state.store.delete_matching(&filter, dry_run).await?;
    if !dry_run {
        tracing::info!(
            matched = bulk.matched,
            deleted = bulk.changed.len(),
            "jobs deleted in bulk"
        );
        let ids: Vec<_> = bulk.changed.iter().map(|&(id, _)| id).collect();
        state.events.deleted(&ids);
    }
    Ok(Json(DeleteResult { matched: bulk.matched, deleted: bulk.changed.len() as u64 }))
}
