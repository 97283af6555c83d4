//! `GET /v1/jobs/{id}/output`: a job's output as plain bytes, so far or followed to the end.
//!
//! While a job runs on this host its output comes from [`LiveOutput`]; once it has ended, from
//! the stored result, which is the record. A follower is sent what exists, then each chunk as
//! the worker forwards it, then, when the job ends, whatever of the stored result it has not
//! been sent (all of it when the job ran on another host, whose live output this host does not
//! see), and the response ends. Announcements of other hosts' changes are a hint: a follower
//! also reads the job again every [`RECHECK`] and whenever the host may have missed some, so
//! a job that ended elsewhere ends its followers here even if the announcement was lost.
//!
//! A response ends cleanly only when the job has ended. When it stops for another reason (the
//! service shuts down, the job was deleted, the store failed), the body is cut short with an
//! error, so a client can tell that the job had not ended (`wasmpool logs -f` exits 75).

use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use utoipa::IntoParams;

use super::jobs::find;
use super::{ApiError, ApiResult, AppState, job_id};
use crate::job::JobState;
use crate::live::{Cursor, Streams};
use crate::store::{JobEvent, JobId, JobRecord};
use crate::wire::ErrorBody;

/// How often a follower reads the job again, whatever was announced.
const RECHECK: Duration = Duration::from_secs(2);

/// What a followed response sends: bytes, or the error that cuts it short.
type Chunk = Result<Bytes, std::io::Error>;

/// Query of an output request.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OutputQuery {
    /// `true`: keep the response open, sending output as the job writes it, until the job
    /// ends (at once if it has). Default `false`: the output so far.
    follow: Option<bool>,
    /// `stdout`, `stderr`, or `both` (default): both as written, interleaved, while the job
    /// runs on this host; stdout then stderr from a stored result.
    #[param(pattern = "^(stdout|stderr|both)$")]
    stream: Option<String>,
}

/// A job's stdout and/or stderr, exactly the bytes the guest wrote (within the output cap);
/// with `follow=true`, streamed until the job ends.
#[utoipa::path(get, path = "/v1/jobs/{id}/output", params(("id" = i64, Path, minimum = 1), OutputQuery),
    responses((status = 200, content_type = "text/plain", body = String,
               description = "the output so far (a running job) or the final output (an ended one); \
                              with `follow=true`, a chunked response that ends when the job ends \
                              (cut short, without its last chunk, when the follow stops first)"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn output(
    State(state): State<AppState>,
    Extension(caller): Extension<super::auth::Caller>,
    Path(id): Path<String>,
    query: Result<Query<OutputQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let id = job_id(&id)?;
    let which = match query.stream.as_deref() {
        None | Some("both") => Streams::Both,
        Some("stdout") => Streams::Stdout,
        Some("stderr") => Streams::Stderr,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "stream `{other}` is not one of stdout, stderr, both"
            )));
        }
    };
    // Subscribed before reading, so an end between the two is not missed.
    let events = state.store.subscribe();
    let job = find(&state, &caller, id).await?;
    if !query.follow.unwrap_or(false) || job.state.is_terminal() {
        let bytes = match state.live.follow(id).filter(|_| job.state == JobState::Running) {
            Some(mut follower) => follower.read_now(which),
            None => stored(&job, which, None),
        };
        return Ok(text(Body::from(bytes)));
    }
    let (chunks, body) = mpsc::channel::<Chunk>(16);
    tokio::spawn(async move {
        let closing = state.closing.clone();
        let gone = chunks.clone();
        let why = tokio::select! {
            ended = follow(&state, id, which, events, &chunks) => match ended {
                Ok(()) => return,
                Err(why) => why,
            },
            () = gone.closed() => return,
            () = closing.cancelled() => "the service is shutting down".to_string(),
        };
        // Not a clean end: the client must not take it for the job's.
        let _ = chunks.send(Err(std::io::Error::other(why))).await;
    });
    Ok(text(Body::from_stream(ReceiverStream::new(body))))
}

fn text(body: Body) -> Response {
    let headers = [
        (CONTENT_TYPE, "text/plain; charset=utf-8"),
        (CACHE_CONTROL, "no-cache"),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    (headers, body).into_response()
}

/// The stored output of `job`, past `sent` when it is the attempt that was being followed.
fn stored(job: &JobRecord, which: Streams, sent: Option<(u32, Cursor)>) -> Vec<u8> {
    let (from_out, from_err) = match sent {
        Some((attempt, cursor)) if attempt == job.attempts => (cursor.stdout, cursor.stderr),
        _ => (0, 0),
    };
    let tail = |bytes: &[u8], from: usize| bytes[from.min(bytes.len())..].to_vec();
    match which {
        Streams::Stdout => tail(&job.stdout, from_out),
        Streams::Stderr => tail(&job.stderr, from_err),
        Streams::Both => [tail(&job.stdout, from_out), tail(&job.stderr, from_err)].concat(),
    }
}

/// Sends the job's output as it comes until the job ends (`Ok`) or it cannot follow it any
/// more (`Err` with why; a client that went away ends it `Ok`). Attempts that run here are
/// followed live; between them (queued, a retry's backoff, running on another host) it waits
/// for one to start here or for the job to end.
async fn follow(
    state: &AppState,
    id: JobId,
    which: Streams,
    mut events: broadcast::Receiver<JobEvent>,
    chunks: &mpsc::Sender<Chunk>,
) -> Result<(), String> {
    let mut starts = state.live.starts();
    let mut missed = state.store.missed();
    let mut sent: Option<(u32, Cursor)> = None;
    loop {
        starts.borrow_and_update();
        missed.borrow_and_update();
        if let Some(mut follower) = state.live.follow(id) {
            if let Some((attempt, cursor)) = sent
                && attempt == follower.attempt()
            {
                follower.resume(cursor);
            }
            while let Some(bytes) = follower.next(which).await {
                if chunks.send(Ok(Bytes::from(bytes))).await.is_err() {
                    return Ok(());
                }
            }
            sent = Some((follower.attempt(), follower.cursor()));
        }
        let job = match state.store.job(id).await {
            Ok(Some(job)) => job,
            Ok(None) => return Err(format!("job {id} was deleted")),
            Err(e) => return Err(format!("reading job {id} failed: {e}")),
        };
        if job.state.is_terminal() {
            let rest = stored(&job, which, sent);
            if !rest.is_empty() {
                let _ = chunks.send(Ok(Bytes::from(rest))).await;
            }
            return Ok(());
        }
        // Until something may have happened to this job: an event of the store, an attempt
        // that was not followed yet starting here, announcements perhaps missed, or the
        // recheck's time.
        let recheck = tokio::time::sleep(RECHECK);
        tokio::pin!(recheck);
        loop {
            tokio::select! {
                () = next_event_of(&mut events, id) => break,
                _ = missed.changed() => break,
                () = &mut recheck => break,
                changed = starts.changed() => {
                    if changed.is_err() {
                        return Err("this host is stopping".into());
                    }
                    let running_here = state.live.attempt_of(id);
                    if running_here.is_some() && running_here != sent.map(|(attempt, _)| attempt) {
                        break;
                    }
                }
            }
        }
    }
}

/// Returns at the next event of job `id` (or when events were missed); never if the store
/// stops announcing.
async fn next_event_of(events: &mut broadcast::Receiver<JobEvent>, id: JobId) {
    loop {
        match events.recv().await {
            Ok(event) if event.id != id => {}
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => return,
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
        }
    }
}
