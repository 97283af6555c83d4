//! The HTTP server under the API: a small accept loop on hyper, in place of `axum::serve`,
//! so that no client can hold a connection (and its file descriptor) for ever.
//!
//! * a request's head must arrive within the header timeout, counted from the moment the
//!   connection waits for it: on a new connection and between keep-alive requests alike, so
//!   the same timer closes idle keep-alive connections (a response being streamed, such as
//!   `GET /v1/events`, is not waiting for a head and is never cut by it);
//! * a request's body must arrive within the body timeout, counted from its head (a slow body
//!   ends in 408);
//! * at most `max_connections` are served at once; one more is answered 503 (a JSON error
//!   body, `Connection: close`) and closed;
//! * on shutdown, idle connections close at once and busy ones after their response.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::header::CONNECTION;
use axum::http::{HeaderValue, Request};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Sleep;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long connections may take, and how many there may be.
#[derive(Clone, Debug)]
pub struct HttpLimits {
    /// A request's head (and an idle keep-alive connection's next one) must arrive within
    /// this.
    pub header_timeout: Duration,
    /// A request's body must arrive within this, counted from its head.
    pub body_timeout: Duration,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(120),
            max_connections: 1024,
        }
    }
}

/// Refusals being written at once; beyond this an extra connection is closed unanswered.
const MAX_REFUSALS: usize = 64;
/// How long a refusal may take to write and to read what the client sent.
const REFUSAL_TIME: Duration = Duration::from_secs(1);
/// Pause after a failed accept (out of file descriptors, say) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

const BUSY_BODY: &str =
    r#"{"error":{"code":"unavailable","message":"too many connections; try again shortly"}}"#;

/// Serves `router` on `listener` until `stop` is cancelled, then waits for the connections
/// to finish their current responses.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    stop: CancellationToken,
) {
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    let tasks = TaskTracker::new();
    loop {
        let stream = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of descriptors or memory: the listener stays; try again shortly.
                    tracing::warn!("accepting a connection failed: {error}");
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    }
                    continue;
                }
            },
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            if let Ok(refusal) = refusals.clone().try_acquire_owned() {
                tasks.spawn(async move {
                    refuse_busy(stream).await;
                    drop(refusal);
                });
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (router, limits, stop) = (router.clone(), limits.clone(), stop.clone());
        tasks.spawn(async move {
            serve_connection(stream, router, &limits, stop).await;
            drop(permit);
        });
    }
    drop(listener);
    tasks.close();
    tasks.wait().await;
}

async fn serve_connection(
    stream: TcpStream,
    router: Router,
    limits: &HttpLimits,
    stop: CancellationToken,
) {
    let body_timeout = limits.body_timeout;
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let read = Arc::new(AtomicBool::new(true));
        let request = request.map(|body| {
            if http_body::Body::is_end_stream(&body) {
                Body::new(body)
            } else {
                read.store(false, Ordering::Relaxed);
                Body::new(TimedBody::new(body, body_timeout, read.clone()))
            }
        });
        let mut router = router.clone();
        async move {
            let response = tower_service::Service::call(&mut router, request).await;
            let mut response = response.unwrap_or_else(|never| match never {});
            // Refused before its body was read (401, 415, ...): the rest of the body is still
            // on the way, so this connection cannot carry another request. Say so, rather
            // than let the client reuse a connection about to close.
            if !read.load(Ordering::Relaxed) {
                response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
            }
            Ok::<_, Infallible>(response)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!("connection ended: {error}");
            }
        }
        () = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// Answers 503 to a connection beyond the limit, without parsing it, and closes it.
async fn refuse_busy(mut stream: TcpStream) {
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{BUSY_BODY}",
        BUSY_BODY.len()
    );
    let _ = tokio::time::timeout(REFUSAL_TIME, async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        // Read what the client sent, so closing does not reset the connection under the
        // answer before the client has read it.
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        std::io::Result::Ok(())
    })
    .await;
}

/// The error of a request body that did not arrive within the body timeout.
#[derive(Debug)]
pub struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimeout {}

/// Whether `error`, or one of its causes, is a [`BodyTimeout`].
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<BodyTimeout>() {
            return true;
        }
        cause = error.source();
    }
    false
}

/// A request body that fails with [`BodyTimeout`] once its deadline passes, and sets `read`
/// once it has been read to the end.
struct TimedBody {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
    read: Arc<AtomicBool>,
}

impl TimedBody {
    fn new(inner: Incoming, timeout: Duration, read: Arc<AtomicBool>) -> Self {
        TimedBody { inner, deadline: Box::pin(tokio::time::sleep(timeout)), read }
    }
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            if frame.is_none() || self.inner.is_end_stream() {
                self.read.store(true, Ordering::Relaxed);
            }
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimeout))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
