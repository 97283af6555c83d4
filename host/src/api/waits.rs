//! Waits on jobs: `GET /v1/jobs/{id}/wait` for one, `POST /v1/jobs/wait` for many at once.
//! Neither holds a thread nor polls: each reads where its jobs stand, then sleeps on the
//! store's announcements until one of them ends (or announcements may have been missed),
//! and reads again.

use std::collections::HashSet;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;
use utoipa::IntoParams;

use super::auth::Caller;
use super::jobs::{find, view};
use super::{ApiError, ApiResult, AppState, body, job_id, json, views};
use crate::store::{JobEvent, JobId, JobRecord, JobStanding};
use crate::wire::{ErrorBody, JobView, WAIT_ANSWER_BYTES, WAIT_MAX_IDS, WaitAnswer, WaitRequest};

/// What an ended job's answer costs beside its output, roughly: its JSON's names and numbers.
const END_OVERHEAD_BYTES: u64 = 300;

/// Wait for any of many jobs to end. Answers as soon as one of them has ended (at once if
/// some already have), with every ended one that fits the answer's size bound, or at the
/// timeout with none. Ask again with the ids not answered yet.
#[utoipa::path(post, path = "/v1/jobs/wait", request_body = WaitRequest,
    responses((status = 200, body = WaitAnswer), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "some of the ids are not jobs (the message names them)"),
              (status = 415, body = ErrorBody, description = "a body of another content type")))]
pub async fn wait_many(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    request: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<WaitAnswer>> {
    let request: WaitRequest =
        json(&body(request, state.limits.max_request_bytes, "the request")?)?;
    let ids = checked_ids(request.ids)?;
    // Another tenant's job is not there for the caller: a 404 names it as it names a job that
    // does not exist (a job's tenant never changes, so one read settles it).
    let briefs = state.store.briefs(&ids).await?;
    let own: HashSet<JobId> =
        briefs.into_iter().filter(|job| caller.owns(&job.tenant)).map(|job| job.id).collect();
    if own.len() < ids.len() {
        let own: Vec<JobId> = own.into_iter().collect();
        return Err(not_own(&ids, &own));
    }
    let max = state.limits.max_wait;
    let limit = request.timeout_ms.map_or(max, Duration::from_millis).min(max);
    let deadline = tokio::time::Instant::now() + limit;
    // Subscribe before reading, so an end between the two is not missed.
    let mut events = state.store.subscribe();
    let mut missed = state.store.missed();
    missed.borrow_and_update();
    let mut standings = state.store.standings(&ids).await?;
    if standings.len() < ids.len() {
        return Err(unknown(&ids, &standings));
    }
    let watched: HashSet<JobId> = ids.iter().copied().collect();
    while !standings.iter().any(|job| job.state.is_terminal()) {
        let heard = tokio::time::timeout_at(deadline, an_end(&mut events, &mut missed, &watched));
        if heard.await.is_err() {
            break;
        }
        standings = state.store.standings(&ids).await?;
    }
    answer(&state, standings).await.map(Json)
}

/// The ids, sorted and each once; refuses none, too many, or one that is not a job id.
fn checked_ids(mut ids: Vec<JobId>) -> ApiResult<Vec<JobId>> {
    if ids.is_empty() {
        return Err(ApiError::bad_request("`ids` is empty: give the ids of the jobs to wait on"));
    }
    if let Some(bad) = ids.iter().find(|&&id| id <= 0) {
        return Err(ApiError::bad_request(format!("`{bad}` is not a job id (a positive integer)")));
    }
    ids.sort_unstable();
    ids.dedup();
    if ids.len() > WAIT_MAX_IDS {
        return Err(ApiError::bad_request(format!(
            "`ids` has {} jobs; at most {WAIT_MAX_IDS} can be waited on at once",
            ids.len()
        )));
    }
    Ok(ids)
}

/// The 404 naming the ids that are not jobs (the first ten of them).
fn unknown(ids: &[JobId], found: &[JobStanding]) -> ApiError {
    let known: Vec<JobId> = found.iter().map(|job| job.id).collect();
    not_own(ids, &known)
}

/// The 404 naming the ids not among `known` (the first ten of them).
fn not_own(ids: &[JobId], known: &[JobId]) -> ApiError {
    let known: HashSet<JobId> = known.iter().copied().collect();
    let missing: Vec<String> =
        ids.iter().filter(|id| !known.contains(id)).map(ToString::to_string).collect();
    let more = match missing.len() {
        n if n > 10 => format!(" and {} more", n - 10),
        _ => String::new(),
    };
    let shown = missing.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
    ApiError::not_found(format!("no job {shown}{more}: wait only on jobs that exist"))
}

/// Returns when one of `watched` ends, or when announcements may have been lost (the
/// caller reads the store again either way).
async fn an_end(
    events: &mut broadcast::Receiver<JobEvent>,
    missed: &mut watch::Receiver<u64>,
    watched: &HashSet<JobId>,
) {
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) if event.state.is_terminal() && watched.contains(&event.id) => return,
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => return,
                Err(RecvError::Closed) => std::future::pending().await,
            },
            changed = missed.changed() => match changed {
                Ok(()) => return,
                Err(_) => std::future::pending().await,
            },
        }
    }
}

/// The ended jobs that fit the size bound (by id; at least one), read whole.
async fn answer(state: &AppState, standings: Vec<JobStanding>) -> ApiResult<WaitAnswer> {
    let (mut chosen, mut bytes, mut left_off, mut pending) = (Vec::new(), 0, 0, 0);
    for job in standings {
        if !job.state.is_terminal() {
            pending += 1;
            continue;
        }
        let size = job.output_bytes + END_OVERHEAD_BYTES;
        if left_off == 0 && (chosen.is_empty() || bytes + size <= WAIT_ANSWER_BYTES) {
            bytes += size;
            chosen.push(job.id);
        } else {
            left_off += 1;
        }
    }
    let records = state.store.jobs_by_id(&chosen).await?;
    // A job retried or deleted between the two reads is no longer ended: it is pending.
    let ended: Vec<_> =
        records.into_iter().filter(|job| job.state.is_terminal()).map(views::end).collect();
    pending += (chosen.len() - ended.len()) as u64;
    Ok(WaitAnswer { ended, left_off, pending })
}

/// Query of a wait.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WaitQuery {
    /// How long to wait at most, in milliseconds (default, and cut to, the service's
    /// `--max-wait`: 60000 unless configured).
    #[param(schema_with = super::wait::schema)]
    #[serde(default, deserialize_with = "super::wait::millis")]
    timeout_ms: Option<u64>,
}

/// Wait for a job to end; answers when it does, or with the job as it stands at the timeout.
#[utoipa::path(get, path = "/v1/jobs/{id}/wait", params(("id" = i64, Path, minimum = 1), WaitQuery),
    responses((status = 200, body = JobView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn wait(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    query: Result<Query<WaitQuery>, QueryRejection>,
) -> ApiResult<Json<JobView>> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let id = job_id(&id)?;
    let max = state.limits.max_wait;
    let limit = query.timeout_ms.map_or(max, Duration::from_millis).min(max);
    let job = wait_for_end(&state, &caller, id, limit).await?;
    Ok(Json(view(&state, job).await?))
}

/// Waits on the store's events (no thread is held) until the job ends or `limit` passes,
/// reading it again whenever its end is announced or announcements may have been missed.
pub(super) async fn wait_for_end(
    state: &AppState,
    caller: &Caller,
    id: JobId,
    limit: Duration,
) -> ApiResult<JobRecord> {
    // Subscribe before reading, so an end between the two is not missed.
    let mut events = state.store.subscribe();
    let mut missed = state.store.missed();
    missed.borrow_and_update();
    let deadline = tokio::time::Instant::now() + limit;
    let watched = HashSet::from([id]);
    let mut job = find(state, caller, id).await?;
    while !job.state.is_terminal() {
        let heard = tokio::time::timeout_at(deadline, an_end(&mut events, &mut missed, &watched));
        let timed_out = heard.await.is_err();
        job = find(state, caller, id).await?;
        if timed_out {
            break;
        }
    }
    Ok(job)
}
