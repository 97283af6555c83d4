//! `/v1/queues`: outside clients feed and drain the same named queues jobs use.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Caller;
use super::{ApiError, ApiResult, AppState, body};
use crate::queues::{QueueError, Queues};
use crate::wire::{ErrorBody, QueueItemView, QueueItems, QueuePurged, QueueView};

/// How long to wait.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WaitQuery {
    /// Milliseconds to wait (for room on a put, default the service's put timeout; for an
    /// item on a get, default 0); cut to the service's `--max-wait` (60000 unless configured).
    #[param(schema_with = super::wait::schema)]
    #[serde(default, deserialize_with = "super::wait::millis")]
    timeout_ms: Option<u64>,
}

impl From<QueueError> for ApiError {
    fn from(error: QueueError) -> Self {
        match error {
            QueueError::BadName(_) => ApiError::bad_request(error.to_string()),
            QueueError::TooLarge { .. } => ApiError::too_large(error.to_string()),
            QueueError::Full { .. } => ApiError::queue_full(error.to_string()),
            QueueError::Store(store) => store.into(),
        }
    }
}

/// The stored name of the caller's queue `name` (checked as a client gives it).
fn stored(caller: &Caller, name: &str) -> ApiResult<String> {
    Queues::check_name(name)?;
    Ok(caller.stored_name(name))
}

fn wait(
    query: Result<Query<WaitQuery>, QueryRejection>,
    default: Duration,
    max: Duration,
) -> ApiResult<Duration> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    Ok(query.timeout_ms.map_or(default, Duration::from_millis).min(max))
}

/// Put one item (the raw body) on a queue; waits while the queue is full, then 409.
#[utoipa::path(post, path = "/v1/queues/{name}", params(("name" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,100}$"), WaitQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = QueueView), (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "the queue stayed full"),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody, description = "a body of another content type")))]
pub async fn put(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    query: Result<Query<WaitQuery>, QueryRejection>,
    item: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<QueueView>)> {
    let wait = wait(query, state.queues.limits().put_timeout, state.limits.max_wait)?;
    let item = body(item, state.queues.limits().max_item_bytes, "the item")?;
    let queue = stored(&caller, &name)?;
    state.queues.put(&queue, item.to_vec(), wait, None).await?;
    let length = state.queues.len(&queue).await?;
    Ok((StatusCode::CREATED, Json(QueueView { name, length, oldest_age_ms: None })))
}

/// Take the oldest item of a queue (the raw body of the answer), waiting up to `timeout_ms`
/// for one; 204 if none came.
#[utoipa::path(post, path = "/v1/queues/{name}/get", params(("name" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,100}$"), WaitQuery),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
              (status = 204, description = "no item within the timeout"), (status = 400, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    query: Result<Query<WaitQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let wait = wait(query, Duration::ZERO, state.limits.max_wait)?;
    match state.queues.take(&stored(&caller, &name)?, wait, None).await? {
        Some((_, item)) => Ok(([(CONTENT_TYPE, "application/octet-stream")], item).into_response()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// Every non-empty queue with its length and how long its oldest item has waited.
#[utoipa::path(get, path = "/v1/queues", responses((status = 200, body = Vec<QueueView>)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<QueueView>>> {
    let queues = state.queues.list().await?;
    let view = |queue: crate::store::QueueStat| {
        Some(QueueView {
            name: caller.own_name(&queue.name)?.to_string(),
            length: queue.length,
            oldest_age_ms: Some(queue.oldest_age.as_millis() as u64),
        })
    };
    Ok(Json(queues.into_iter().filter_map(view).collect()))
}

/// Most bytes of an item `GET /v1/queues/{name}/items` shows.
const PREVIEW_BYTES: u32 = 256;

/// How many items to look at.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PeekQuery {
    /// How many of the oldest items, 1 to 100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// Look at a queue's oldest items without taking them: each its id, size, age and first 256
/// bytes as text.
#[utoipa::path(get, path = "/v1/queues/{name}/items", params(("name" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,100}$"), PeekQuery),
    responses((status = 200, body = QueueItems), (status = 400, body = ErrorBody)))]
pub async fn items(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    query: Result<Query<PeekQuery>, QueryRejection>,
) -> ApiResult<Json<QueueItems>> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = query.limit.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request("`limit` must be 1 to 100"));
    }
    let queue = stored(&caller, &name)?;
    let found = state.store.queue_peek(&queue, limit, PREVIEW_BYTES).await?;
    let length = state.queues.len(&queue).await?;
    let items = found
        .into_iter()
        .map(|item| QueueItemView {
            id: item.id,
            truncated: item.size > item.preview.len() as u64,
            size: item.size,
            preview: String::from_utf8_lossy(&item.preview).into_owned(),
            age_ms: item.age.as_millis() as u64,
        })
        .collect();
    Ok(Json(QueueItems { name, length, items }))
}

/// Empty a queue: every item is removed (puts waiting for room go ahead).
#[utoipa::path(delete, path = "/v1/queues/{name}", params(("name" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,100}$")),
    responses((status = 200, body = QueuePurged), (status = 400, body = ErrorBody)))]
pub async fn purge(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<QueuePurged>> {
    let removed = state.store.queue_purge(stored(&caller, &name)?).await?;
    tracing::info!(queue = name.as_str(), removed, "queue purged");
    Ok(Json(QueuePurged { name, removed }))
}
