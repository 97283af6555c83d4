//! `/v1/schedules`: create, list, look at, change (pause, resume) and delete schedules. A
//! schedule is checked whole before it is stored: its name, its cron expression and time
//! zone (by the parser, whose message a refusal carries), and its job, exactly as a
//! submission is checked (its module must exist). The jobs themselves are made by the
//! scheduler (`scheduler.rs`).

use std::time::SystemTime;

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use bytes::Bytes;

use super::auth::Caller;
use super::{ApiError, ApiResult, AppState, body, json, views};
use crate::schedule::{MAX_JOB, Timetable};
use crate::scheduler::check_job;
use crate::store::{NewSchedule, ScheduleChange, ScheduleRecord};
use crate::wire::{
    Accepted, ErrorBody, JobRequest, ScheduleList, SchedulePatch, ScheduleRequest, ScheduleView,
};

/// The time zone of a schedule that names none.
const DEFAULT_TIMEZONE: &str = "UTC";

/// Checks a schedule's job as a submission (its lane too); returns it as stored (JSON text).
async fn checked_job(state: &AppState, caller: &Caller, job: &JobRequest) -> ApiResult<String> {
    let checked = check_job(&state.store, &caller.tenant, job.clone(), &state.limits)
        .await?
        .map_err(|reason| ApiError::bad_request(format!("job: {reason}")))?;
    state.check_lane(&checked.lane).await?;
    state.check_mounts(&checked.mounts)?;
    let stored = serde_json::to_string(job).map_err(ApiError::internal)?;
    if stored.len() > MAX_JOB {
        return Err(ApiError::bad_request(format!(
            "job: the request is {} bytes as JSON; a schedule's job may be at most {MAX_JOB} \
             (large input belongs in a module or a named queue)",
            stored.len()
        )));
    }
    Ok(stored)
}

fn checked_timetable(cron: &str, timezone: &str) -> ApiResult<Timetable> {
    Timetable::parse(cron, timezone).map_err(ApiError::bad_request)
}

async fn view(
    state: &AppState,
    caller: &Caller,
    record: ScheduleRecord,
) -> ApiResult<ScheduleView> {
    let now = state.store.now().await.unwrap_or_else(|_| SystemTime::now());
    own_view(caller, record, now)
}

/// The view of the caller's schedule, under the caller's name for it.
fn own_view(caller: &Caller, record: ScheduleRecord, now: SystemTime) -> ApiResult<ScheduleView> {
    let name = caller.own_name(&record.name).unwrap_or_default().to_string();
    let mut view = views::schedule(record, now).map_err(ApiError::internal)?;
    view.name = name;
    Ok(view)
}

/// The caller's schedule `name` (404 when there is none, or it is another tenant's: the
/// stored name of the caller's is the only one looked up).
async fn own(state: &AppState, caller: &Caller, name: &str) -> ApiResult<ScheduleRecord> {
    state.store.schedule(&caller.stored_name(name)).await?.ok_or_else(|| unknown(name))
}

/// States in the API document what [`patch`] refuses and no derived schema can say: a
/// `PATCH` body that changes nothing.
pub fn describe(document: &mut serde_json::Value) {
    document["components"]["schemas"]["SchedulePatch"]["minProperties"] = 1.into();
}

fn unknown(name: &str) -> ApiError {
    ApiError::not_found(format!("no schedule `{name}`"))
}

/// Create a schedule: its job is submitted at every tick of its cron expression.
#[utoipa::path(post, path = "/v1/schedules", request_body = ScheduleRequest,
    responses((status = 201, body = ScheduleView), (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "a schedule of that name exists (`schedule_exists`), \
                   or there are `--max-schedules` already (`too_many_schedules`)"),
              (status = 415, body = ErrorBody, description = "a body of another content type"), (status = 503, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    request: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<ScheduleView>)> {
    let request: ScheduleRequest =
        json(&body(request, state.limits.max_request_bytes, "the request")?)?;
    wasmpool_protocol::validate::check_name("schedule", &request.name)?;
    let timezone = request.timezone.unwrap_or_else(|| DEFAULT_TIMEZONE.to_string());
    checked_timetable(&request.cron, &timezone)?;
    let job = checked_job(&state, &caller, &request.job).await?;
    let max = state.limits.max_schedules;
    if state.store.schedule_count().await? >= max {
        return Err(ApiError::too_many_schedules(format!(
            "there are {max} schedules already, the most this service keeps (serve \
             --max-schedules); delete some first"
        )));
    }
    let schedule = NewSchedule {
        name: caller.stored_name(&request.name),
        cron: request.cron,
        timezone,
        job,
        enabled: request.enabled.unwrap_or(true),
        catch_up: request.catch_up.unwrap_or(false),
    };
    let name = request.name.clone();
    let Some(record) = state.store.create_schedule(schedule).await? else {
        return Err(ApiError::schedule_exists(format!("a schedule named `{name}` exists")));
    };
    tracing::info!(schedule = name, cron = record.cron.as_str(), "schedule created");
    Ok((StatusCode::CREATED, Json(view(&state, &caller, record).await?)))
}

/// Every schedule, by name, with its last and next run.
#[utoipa::path(get, path = "/v1/schedules", responses((status = 200, body = ScheduleList)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<ScheduleList>> {
    let now = state.store.now().await?;
    let schedules = state
        .store
        .schedules()
        .await?
        .into_iter()
        .filter(|record| caller.own_name(&record.name).is_some())
        .map(|record| own_view(&caller, record, now))
        .collect::<ApiResult<_>>()?;
    Ok(Json(ScheduleList { schedules }))
}

/// One schedule.
#[utoipa::path(get, path = "/v1/schedules/{name}", params(("name" = String, Path)),
    responses((status = 200, body = ScheduleView), (status = 400, body = ErrorBody, description = "a NUL or invalid UTF-8 in the URL"),
              (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<ScheduleView>> {
    let record = own(&state, &caller, &name).await?;
    Ok(Json(view(&state, &caller, record).await?))
}

/// Change a schedule: its cron expression, time zone, job, `enabled` (false pauses it, true
/// resumes it) or `catch_up`. A new cron or time zone, or a resume, makes no tick before now.
#[utoipa::path(patch, path = "/v1/schedules/{name}", params(("name" = String, Path)),
    request_body = SchedulePatch,
    responses((status = 200, body = ScheduleView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 415, body = ErrorBody, description = "a body of another content type"), (status = 503, body = ErrorBody)))]
pub async fn patch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    request: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<ScheduleView>> {
    let patch: SchedulePatch =
        json(&body(request, state.limits.max_request_bytes, "the request")?)?;
    if patch.is_empty() {
        return Err(ApiError::bad_request(
            "nothing to change: give any of cron, timezone, job, enabled, catch_up",
        ));
    }
    let current = own(&state, &caller, &name).await?;
    if patch.cron.is_some() || patch.timezone.is_some() {
        let cron = patch.cron.as_deref().unwrap_or(&current.cron);
        checked_timetable(cron, patch.timezone.as_deref().unwrap_or(&current.timezone))?;
    }
    let job = match &patch.job {
        Some(job) => Some(checked_job(&state, &caller, job).await?),
        None => None,
    };
    let change = ScheduleChange {
        cron: patch.cron,
        timezone: patch.timezone,
        job,
        enabled: patch.enabled,
        catch_up: patch.catch_up,
    };
    let stored = caller.stored_name(&name);
    let record =
        state.store.update_schedule(stored, change).await?.ok_or_else(|| unknown(&name))?;
    tracing::info!(schedule = name, enabled = record.enabled, "schedule changed");
    Ok(Json(view(&state, &caller, record).await?))
}

/// Delete a schedule (the jobs it made stay).
#[utoipa::path(delete, path = "/v1/schedules/{name}", params(("name" = String, Path)),
    responses((status = 204, description = "deleted"), (status = 400, body = ErrorBody, description = "a NUL or invalid UTF-8 in the URL"),
              (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    if !state.store.delete_schedule(caller.stored_name(&name)).await? {
        return Err(unknown(&name));
    }
    tracing::info!(schedule = name, "schedule deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Run a schedule's job now, once, as an ordinary submission: the schedule's ticks, its last
/// run and its pause are left as they are (a paused schedule runs too).
#[utoipa::path(post, path = "/v1/schedules/{name}/run", params(("name" = String, Path)),
    responses((status = 202, body = Accepted), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "the schedule's job cannot be submitted now (its module is gone)"),
              (status = 503, body = ErrorBody)))]
pub async fn run(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    state.refuse_if_draining()?;
    let record = own(&state, &caller, &name).await?;
    let request: JobRequest = serde_json::from_str(&record.job).map_err(ApiError::internal)?;
    let job = check_job(&state.store, &caller.tenant, request, &state.limits).await?;
    let job = job.map_err(|reason| {
        ApiError::conflict(format!("schedule `{name}`'s job cannot run now: {reason}"))
    })?;
    state.check_lane(&job.lane).await?;
    state.check_mounts(&job.mounts)?;
    let (id, job_state) = state.store.submit(vec![job]).await?[0];
    tracing::info!(job = id, schedule = name, "schedule run now");
    Ok((StatusCode::ACCEPTED, Json(Accepted { id, state: job_state })))
}
