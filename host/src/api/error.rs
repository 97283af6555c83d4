//! The one API error type: a status, a stable code and a message, answered as
//! `{"error":{"code":"...","message":"..."}}`. Internal failures are logged, not leaked.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::library::LibraryError;
use crate::store::StoreError;
use crate::wire::{ErrorBody, ErrorDetail};

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Seconds for `Retry-After`, when trying again later may succeed.
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), retry_after: None }
    }

    /// 400: the request is malformed or a value is out of range.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 400: a job names a lane no live host serves.
    pub fn unknown_lane(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unknown_lane", message)
    }

    /// 400: a job names a mount this service does not declare.
    pub fn unknown_mount(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unknown_mount", message)
    }

    /// 401: missing or wrong token.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong token: send `Authorization: Bearer TOKEN`",
        )
    }

    /// 403: a cross-site request.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409: not allowed in the current state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 409: the service keeps as many schedules as it may (`serve --max-schedules`).
    pub fn too_many_schedules(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "too_many_schedules", message)
    }

    /// 409: a schedule of that name exists.
    pub fn schedule_exists(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "schedule_exists", message)
    }

    /// 409: a queue stayed full.
    pub fn queue_full(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "queue_full", message)
    }

    /// 413.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    /// 507: the database's disk is full.
    pub fn insufficient_storage(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INSUFFICIENT_STORAGE, "insufficient_storage", message)
    }

    /// 408: the request body did not arrive within the body timeout.
    pub fn request_timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", message)
    }

    /// 415: a body of a type this route does not take.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", message)
    }

    /// 421: a `Host` this service does not answer to.
    pub fn misdirected(message: impl Into<String>) -> Self {
        Self::new(StatusCode::MISDIRECTED_REQUEST, "misdirected_request", message)
    }

    /// 429: a tenant's quota (named in the message) does not allow it; with `Retry-After`
    /// when the quota frees by itself.
    pub fn quota_exceeded(message: impl Into<String>, retry_after: Option<u64>) -> Self {
        let error = Self::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", message);
        ApiError { retry_after, ..error }
    }

    /// 503: the service is draining.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// 405.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed on this route",
        )
    }

    /// The same error with context in front of its message.
    pub fn prefixed(mut self, context: &str) -> Self {
        self.message.insert_str(0, context);
        self
    }

    /// The sentence the error body carries.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// 500, with the cause logged and a generic message answered.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {cause}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            ErrorBody { error: ErrorDetail { code: self.code.to_string(), message: self.message } };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::UnknownModule(hash) => ApiError::not_found(format!("no module {hash}")),
            StoreError::Graph(problem) => ApiError::bad_request(problem),
            in_use @ StoreError::ModuleInUse { .. } => ApiError::conflict(in_use.to_string()),
            StoreError::Closed => ApiError::unavailable("the service is shutting down"),
            StoreError::Conflict(reason) => ApiError::unavailable(format!(
                "a concurrent change got in the way ({reason}); nothing changed: try again"
            )),
            StoreError::Full(reason) => ApiError::insufficient_storage(format!(
                "the job database's disk is full ({reason}); nothing was changed: try again once there is room"
            )),
            StoreError::Unavailable(reason) => ApiError::unavailable(format!(
                "the job database is unavailable now ({reason}); try again shortly"
            )),
            other => ApiError::internal(other),
        }
    }
}

impl From<LibraryError> for ApiError {
    fn from(error: LibraryError) -> Self {
        match error {
            LibraryError::Module(crate::sandbox::ModuleError::Cache { .. }) => {
                ApiError::internal(error)
            }
            LibraryError::Module(costly @ crate::sandbox::ModuleError::TooCostly(_)) => {
                ApiError::too_large(costly.to_string())
            }
            LibraryError::Module(module) => ApiError::bad_request(module.to_string()),
            LibraryError::Store(store) => store.into(),
            LibraryError::File { .. } => ApiError::internal(error),
        }
    }
}

/// Result of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
