//! The access log: one `info` line per HTTP request answered, with its method, path, status
//! and how long the answer took (to its head: a streamed body goes on after the line). The
//! query string, headers (the token) and bodies are never logged: a path names only
//! resources.

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

/// Logs the request once it has been answered.
pub async fn log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    // Milliseconds to the microsecond: most answers take well under one.
    let ms = started.elapsed().as_micros() as f64 / 1000.0;
    tracing::info!(%method, path, status, ms, "answered");
    response
}
