//! `/v1/jobs` and `/v1/run`: submit, look, wait, cancel, list, retry.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use utoipa::IntoParams;
use wasmpool_protocol::run_query::run_request;
use wasmpool_protocol::validate as rules;
use wasmpool_protocol::workflow::Node;

use super::auth::Caller;
use super::{
    ApiError, ApiResult, AppState, after, body, job_id, json, selector, tenancy, tenants, validate,
    views,
};
use crate::job::JobState;
use crate::scheduler::check_call as check_call_with;
use crate::store::{Cancel, Change, JobId, JobRecord, ModuleRecord, NewJob};
use crate::wire::{
    Accepted, BatchAccepted, BatchRequest, ErrorBody, JobPage, JobRequest, JobSelector, JobView,
};

/// The caller's module named by hash or name (404 when there is none).
pub(super) async fn resolve(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<ModuleRecord> {
    tenancy::module(state, caller, id).await
}

/// Makes `job` the caller's: its tenant, and its idempotency key kept apart from other
/// tenants' (a header cannot carry `\u{1}`, so no caller's own key meets another's).
fn owned_by(caller: &Caller, mut job: NewJob) -> NewJob {
    if !caller.owns(rules::DEFAULT_TENANT) {
        job.idempotency_key =
            job.idempotency_key.map(|key| format!("\u{1}{}\u{1}{key}", caller.tenant));
    }
    job.tenant = caller.tenant.clone();
    job
}

/// Checks a job's call against its module's exports (or that the module is a command).
fn check_call(request_module: &str, module: &ModuleRecord, job: &mut NewJob) -> ApiResult<()> {
    check_call_with(request_module, module.exports.as_deref(), job).map_err(ApiError::bad_request)
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    headers
        .get("idempotency-key")
        .map(|value| {
            value
                .to_str()
                .map(str::to_string)
                .map_err(|_| ApiError::bad_request("Idempotency-Key must be ASCII text"))
        })
        .transpose()
}

/// Submit one job.
#[utoipa::path(post, path = "/v1/jobs", request_body = JobRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "a retried submission with the same key returns the first job")),
    responses((status = 202, body = Accepted), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 415, body = ErrorBody, description = "a body of another content type"), (status = 503, body = ErrorBody)))]
pub async fn submit(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    request: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    state.refuse_if_draining()?;
    let request: JobRequest = json(&body(request, state.limits.max_request_bytes, "the request")?)?;
    let key = idempotency_key(&headers)?;
    let record = resolve(&state, &caller, &request.module).await?;
    let hash = record.hash.clone();
    // Named by hash, the log line shows 12 hex digits, as every other line does.
    let module =
        if request.module == hash { hash[..12].to_string() } else { request.module.clone() };
    let after = request.after.clone();
    let mut job = owned_by(&caller, validate::new_job(request, hash, key, &state.limits)?);
    let node = Node { name: None, after: &after };
    job.after = after::resolve_after(&[node], &state)?.remove(0);
    check_call(&module, &record, &mut job)?;
    tenants::check(&state, &caller, std::slice::from_mut(&mut job)).await?;
    state.check_lane(&job.lane).await?;
    state.check_mounts(&job.mounts)?;
    let (id, job_state) = after::submit_jobs(&state, vec![job]).await?[0];
    tracing::info!(job = id, module, state = %job_state, "job submitted");
    Ok((StatusCode::ACCEPTED, Json(Accepted { id, state: job_state })))
}

/// Submit many jobs at once: all are accepted, or none.
#[utoipa::path(post, path = "/v1/jobs/batch", request_body = BatchRequest,
    responses((status = 202, body = BatchAccepted), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 415, body = ErrorBody, description = "a body of another content type"), (status = 503, body = ErrorBody)))]
pub async fn submit_batch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    request: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<BatchAccepted>)> {
    state.refuse_if_draining()?;
    let batch: BatchRequest = json(&body(request, state.limits.max_request_bytes, "the request")?)?;
    if batch.jobs.is_empty() {
        return Err(ApiError::bad_request("the batch has no jobs"));
    }
    if batch.jobs.len() > state.limits.max_batch {
        return Err(ApiError::bad_request(format!(
            "the batch has {} jobs; at most {} are allowed",
            batch.jobs.len(),
            state.limits.max_batch
        )));
    }
    let nodes: Vec<Node<'_>> = batch
        .jobs
        .iter()
        .map(|job| Node { name: job.name.as_deref(), after: &job.after })
        .collect();
    let mut parents = after::resolve_after(&nodes, &state)?.into_iter();
    let mut hashes: HashMap<String, ModuleRecord> = HashMap::new();
    let mut checked: HashSet<String> = HashSet::new();
    let mut jobs = Vec::with_capacity(batch.jobs.len());
    for (index, request) in batch.jobs.clone().into_iter().enumerate() {
        let at = |e: ApiError| e.prefixed(&format!("jobs[{index}]: "));
        let record = match hashes.get(&request.module) {
            Some(record) => record.clone(),
            None => {
                let record = resolve(&state, &caller, &request.module).await.map_err(at)?;
                hashes.insert(request.module.clone(), record.clone());
                record
            }
        };
        let name = request.module.clone();
        let job = validate::new_job(request, record.hash.clone(), None, &state.limits);
        let mut job = owned_by(&caller, job.map_err(at)?);
        job.after = parents.next().unwrap_or_default();
        check_call(&name, &record, &mut job).map_err(at)?;
        if !checked.contains(&job.lane) {
            state.check_lane(&job.lane).await.map_err(at)?;
            checked.insert(job.lane.clone());
        }
        state.check_mounts(&job.mounts).map_err(at)?;
        jobs.push(job);
    }
    tenants::check(&state, &caller, &mut jobs).await?;
    let accepted = after::submit_jobs(&state, jobs).await?;
    // One line for the batch: a line per job would be thousands for one request.
    if let (Some((first, _)), Some((last, _))) = (accepted.first(), accepted.last()) {
        tracing::info!(jobs = accepted.len(), first, last, state = "queued", "jobs submitted");
    }
    let jobs = accepted.into_iter().map(|(id, state)| Accepted { id, state }).collect();
    Ok((StatusCode::ACCEPTED, Json(BatchAccepted { jobs })))
}

/// The caller's job `id` (404 when there is none, or it is another tenant's).
pub(super) async fn find(state: &AppState, caller: &Caller, id: JobId) -> ApiResult<JobRecord> {
    tenancy::job(state, caller, id).await
}

/// A job as the API shows it, with the history of its ended attempts.
pub(super) async fn view(state: &AppState, job: JobRecord) -> ApiResult<JobView> {
    let mut history = state.store.attempts(&[job.id]).await?;
    let attempts = history.remove(&job.id).unwrap_or_default();
    Ok(views::job(job, attempts))
}

/// Everything about one job.
#[utoipa::path(get, path = "/v1/jobs/{id}", params(("id" = i64, Path, minimum = 1)),
    responses((status = 200, body = JobView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<JobView>> {
    let job = find(&state, &caller, job_id(&id)?).await?;
    Ok(Json(with_worker(&state, view(&state, job).await?)))
}

/// A running job's worker is known to the pool before the store records it at the end.
fn with_worker(state: &AppState, mut job: JobView) -> JobView {
    if job.state == JobState::Running && job.worker_pid.is_none() {
        let id = job.id.to_string();
        let workers = state.lanes.snapshot().workers;
        job.worker_pid = workers.iter().find_map(|worker| match &worker.state {
            crate::pool::WorkerState::Busy { job_id, .. } if *job_id == id => Some(worker.pid),
            _ => None,
        });
    }
    job
}

/// Cancels a queued or running job: `Ok` with the job, now cancelled, or `Err` with the
/// state it had already ended in.
async fn cancel_job(
    state: &AppState,
    caller: &Caller,
    id: JobId,
) -> ApiResult<Result<JobView, JobState>> {
    // Another tenant's job is not there for the caller (its tenant never changes).
    find(state, caller, id).await?;
    match state.store.cancel(id).await? {
        Cancel::NotFound => Err(ApiError::not_found(format!("no job {id}"))),
        Cancel::Cancelled(was) => {
            tracing::info!(job = id, was = %was, state = "cancelled", "job cancelled");
            if was == JobState::Running {
                state.lanes.cancel(id);
            }
            Ok(Ok(view(state, find(state, caller, id).await?).await?))
        }
        Cancel::AlreadyEnded(ended) => Ok(Err(ended)),
    }
}

/// Cancel a queued job (it never runs) or a running one (its worker is killed); an ended job
/// is left as it is, with 409.
#[utoipa::path(post, path = "/v1/jobs/{id}/cancel", params(("id" = i64, Path, minimum = 1)),
    responses((status = 200, body = JobView, description = "cancelled"), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "the job had already ended")))]
pub async fn cancel(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<JobView>> {
    let id = job_id(&id)?;
    match cancel_job(&state, &caller, id).await? {
        Ok(job) => Ok(Json(job)),
        Err(ended) => Err(ApiError::conflict(format!(
            "job {id} has already ended ({ended}); DELETE /v1/jobs/{id} removes it"
        ))),
    }
}

/// Cancel a queued or running job (200), or delete an ended one (204).
#[utoipa::path(delete, path = "/v1/jobs/{id}", params(("id" = i64, Path, minimum = 1)),
    responses((status = 200, body = JobView, description = "cancelled"), (status = 204, description = "deleted"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "an ended job that a job not yet ended runs after (`after`) is kept until that job ends")))]
pub async fn cancel_or_delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = job_id(&id)?;
    match cancel_job(&state, &caller, id).await? {
        Ok(job) => Ok(Json(job).into_response()),
        Err(_) => match state.store.delete_job(id).await? {
            Change::Done => {
                tracing::info!(job = id, "job deleted");
                Ok(StatusCode::NO_CONTENT.into_response())
            }
            Change::NotFound => Err(ApiError::not_found(format!("no job {id}"))),
            Change::Refused(now) => {
                Err(ApiError::conflict(format!("job {id} is {now} again; try again")))
            }
            Change::WaitedOn(child) => Err(ApiError::conflict(format!(
                "job {id} cannot be deleted while job {child}, which runs after it, has not \
                 ended"
            ))),
        },
    }
}

/// Describes the list's filter parameters whose schema comes from `validate` (`schema_with`
/// leaves out a parameter's description) as the bulk actions' selector describes its fields.
pub fn describe(document: &mut serde_json::Value) {
    let selector = document["components"]["schemas"]["JobSelector"]["properties"].clone();
    let parameters = &mut document["paths"]["/v1/jobs"]["get"]["parameters"];
    for parameter in parameters.as_array_mut().into_iter().flatten() {
        let name = parameter["name"].as_str().unwrap_or_default().to_string();
        if parameter.get("description").is_none()
            && let Some(description) = selector[&name].get("description")
        {
            parameter["description"] = description.clone();
        }
    }
}

/// Query of a job listing: filters (all optional, combined with AND) and paging.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only jobs in this state.
    #[param(value_type = Option<JobState>)]
    state: Option<String>,
    /// Only jobs of this module (hash or name).
    module: Option<String>,
    /// Only jobs of this lane.
    #[param(schema_with = rules::name_schema)]
    lane: Option<String>,
    /// Only jobs whose current or last attempt ran on this host.
    #[param(schema_with = rules::filter_text_schema)]
    node: Option<String>,
    /// Only jobs made by this schedule (by name; a deleted schedule's jobs keep it).
    #[param(schema_with = rules::name_schema)]
    schedule: Option<String>,
    /// Only jobs whose name contains this (case-sensitive).
    #[param(schema_with = rules::filter_text_schema)]
    name: Option<String>,
    /// The job with this id (when all digits), or jobs whose name contains this.
    #[param(schema_with = rules::filter_text_schema)]
    q: Option<String>,
    /// Only jobs submitted at or after this time (RFC 3339).
    #[param(schema_with = rules::time_schema)]
    submitted_after: Option<String>,
    /// Only jobs submitted before this time (RFC 3339).
    #[param(schema_with = rules::time_schema)]
    submitted_before: Option<String>,
    /// Only jobs of this workflow (its id).
    #[param(value_type = Option<i64>, minimum = 1)]
    workflow: Option<String>,
    /// Page size, 1 to 1000 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<i64>, minimum = 1)]
    cursor: Option<String>,
}

/// List jobs, newest first, a page at a time, as summaries: sizes and flags instead of output,
/// the arguments and error cut short (the whole job is at `GET /v1/jobs/{id}`).
#[utoipa::path(get, path = "/v1/jobs", params(ListQuery),
    responses((status = 200, body = JobPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<JobPage>> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = match query.limit.as_deref().map(str::parse::<u32>) {
        None => 50,
        Some(Ok(n @ 1..=1000)) => n,
        Some(_) => return Err(ApiError::bad_request("limit must be an integer from 1 to 1000")),
    };
    let before = match query.cursor.as_deref() {
        None => None,
        Some(cursor) => match cursor.parse::<i64>() {
            Ok(id) if id > 0 => Some(id),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "`{cursor}` is not a cursor from a previous page"
                )));
            }
        },
    };
    let selected = JobSelector {
        state: query
            .state
            .as_deref()
            .map(str::parse::<JobState>)
            .transpose()
            .map_err(ApiError::bad_request)?,
        module: query.module,
        lane: query.lane,
        node: query.node,
        schedule: query.schedule,
        name: query.name,
        q: query.q,
        submitted_after: query.submitted_after,
        submitted_before: query.submitted_before,
        dry_run: false,
    };
    let mut filter = selector::filter(&state, &caller, &selected).await?;
    filter.workflow = match query.workflow.as_deref() {
        None => None,
        Some(id) => match id.parse::<i64>() {
            Ok(id) if id > 0 => Some(id),
            _ => return Err(ApiError::bad_request(format!("`{id}` is not a workflow id"))),
        },
    };
    filter.before = before;
    filter.limit = limit + 1;
    let mut jobs = state.store.jobs(&filter).await?;
    let next_cursor = (jobs.len() > limit as usize).then(|| {
        jobs.truncate(limit as usize);
        jobs.last().map(|job| job.id.to_string()).unwrap_or_default()
    });
    let jobs = jobs.into_iter().map(views::summary).collect();
    Ok(Json(JobPage { jobs, next_cursor }))
}

/// Run a failed, timed-out or cancelled job again as a new attempt.
#[utoipa::path(post, path = "/v1/jobs/{id}/retry", params(("id" = i64, Path, minimum = 1)),
    responses((status = 202, body = Accepted), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn retry(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    state.refuse_if_draining()?;
    let id = job_id(&id)?;
    find(&state, &caller, id).await?;
    match state.store.retry(id).await? {
        Change::Done => {
            tracing::info!(job = id, state = "queued", "job retried");
            Ok((StatusCode::ACCEPTED, Json(Accepted { id, state: JobState::Queued })))
        }
        Change::NotFound => Err(ApiError::not_found(format!("no job {id}"))),
        Change::Refused(now) => Err(ApiError::conflict(format!(
            "job {id} is {now}; only failed, timed-out, cancelled or skipped jobs can be retried"
        ))),
        Change::WaitedOn(child) => {
            Err(ApiError::conflict(format!("job {id} has job {child} waiting on it")))
        }
    }
}

/// Upload a module, run it once and answer the result, in one call. Query: `args` (repeat
/// for several), `timeout_ms`, `memory_mb`, `fuel`, `lane`.
#[utoipa::path(post, path = "/v1/run",
    params(("args" = Option<Vec<String>>, Query, description = "an argument; repeat for several"),
           ("timeout_ms" = Option<u64>, Query), ("memory_mb" = Option<u64>, Query), ("fuel" = Option<u64>, Query),
           ("lane" = Option<String>, Query, description = "the lane to run it in (default `default`)")),
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses((status = 200, body = JobView), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody, description = "a body of another content type"),
              (status = 429, body = ErrorBody, description = "over a quota of the tenant's")))]
pub async fn run(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
    upload: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<JobView>> {
    state.refuse_if_draining()?;
    let mut request = run_request(query.as_deref().unwrap_or(""))?;
    // Before the upload: a refused run stores nothing.
    if let Some(lane) = &request.lane {
        rules::check_name("lane", lane)?;
        state.check_lane(lane).await?;
    }
    let bytes = body(upload, state.limits.max_module_bytes, "the module")?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request("empty body: send the .wasm bytes"));
    }
    let (module, _) = super::modules::upload_for(&state, &caller, bytes.to_vec(), None).await?;
    request.module = module.hash.clone();
    let job = validate::new_job(request, module.hash.clone(), None, &state.limits)?;
    let mut job = owned_by(&caller, job);
    check_call(&module.hash[..12], &module, &mut job)?;
    tenants::check(&state, &caller, std::slice::from_mut(&mut job)).await?;
    let limit = Duration::from_millis(job.timeout_ms) + Duration::from_secs(30);
    let started = Instant::now();
    let (id, _) = state.store.submit(vec![job]).await?[0];
    let job = super::waits::wait_for_end(&state, &caller, id, limit).await?;
    tracing::debug!(job = id, "ran in {:?}", started.elapsed());
    Ok(Json(view(&state, job).await?))
}
