//! `POST /v1/jobs/retry` and `POST /v1/jobs/cancel`: one action on every job a filter
//! selects, in one transaction of the store.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use bytes::Bytes;

use super::{ApiError, ApiResult, AppState, body, json, selector};
use crate::store::{Bulk, JobFilter};
use crate::wire::{BulkResult, ErrorBody, JobSelector, JobState};

/// The body's filter; one that selects everything is refused, so that a forgotten field
/// never retries or cancels every job.
async fn filter(state: &AppState, request: Result<Bytes, BytesRejection>) -> ApiResult<JobFilter> {
    let selected: JobSelector =
        json(&body(request, state.limits.max_request_bytes, "the filter")?)?;
    let filter = selector::filter(state, &selected).await?;
    if filter.selects_everything() {
        return Err(ApiError::bad_request(
            "the filter is empty: give at least one of state, module, node, schedule, name, q, \
             submitted_after, submitted_before (acting on every job is never the default)",
        ));
    }
    Ok(filter)
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
