//! Live events for the dashboard and any client: `GET /v1/events` streams Server-Sent
//! Events. One hub task per service turns the store's job transitions into `jobs` events
//! (batched every 250 ms) and the pool's state into `pool` events (sent when it changed),
//! and samples throughput once a second. With no one listening it only samples.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use serde_json::json;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_util::sync::CancellationToken;

use super::{ApiResult, AppState, pool};
use crate::wire::JobEventView;

/// How often job transitions are flushed and the pool looked at.
const TICK: Duration = Duration::from_millis(250);
/// Seconds of throughput kept.
const THROUGHPUT_SECONDS: usize = 120;

/// One SSE event, serialised once for every listener.
#[derive(Clone)]
pub enum Frame {
    /// A pool snapshot (`event: pool`).
    Pool(Arc<str>),
    /// Job transitions (`event: jobs`).
    Jobs(Arc<str>),
    /// Ids of jobs deleted (`event: deleted`).
    Deleted(Arc<str>),
}

/// Fans events out to every `/v1/events` listener.
pub struct EventHub {
    frames: broadcast::Sender<Frame>,
    throughput: Mutex<VecDeque<u64>>,
}

impl Default for EventHub {
    fn default() -> Self {
        EventHub { frames: broadcast::channel(256).0, throughput: Mutex::new(VecDeque::new()) }
    }
}

impl EventHub {
    /// Job attempts ended in each of the last seconds, oldest first.
    pub fn throughput(&self) -> Vec<u64> {
        self.throughput.lock().expect("throughput lock").iter().copied().collect()
    }

    /// Tells every listener these jobs were deleted (after the store committed it), so open
    /// lists drop them. Sent by the host that deleted them, to its own listeners.
    pub fn deleted(&self, ids: &[i64]) {
        if !ids.is_empty() {
            let json = serde_json::to_string(ids).expect("ids serialise");
            let _ = self.frames.send(Frame::Deleted(json.into()));
        }
    }

    fn sample(&self, finished: u64) {
        let mut series = self.throughput.lock().expect("throughput lock");
        series.push_back(finished);
        while series.len() > THROUGHPUT_SECONDS {
            series.pop_front();
        }
    }
}

/// Runs the hub until `stop` is cancelled.
pub async fn run_hub(state: AppState, stop: CancellationToken) {
    let mut transitions = state.store.subscribe();
    let mut tick = tokio::time::interval(TICK);
    let mut second = tokio::time::interval(Duration::from_secs(1));
    let mut pending: Vec<JobEventView> = Vec::new();
    let mut last_pool: Option<Arc<str>> = None;
    let mut last_total = state.metrics.finished_total();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            event = transitions.recv() => match event {
                Ok(event) => pending.push(JobEventView { id: event.id, state: event.state }),
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = second.tick() => {
                let total = state.metrics.finished_total();
                state.events.sample(total - last_total);
                last_total = total;
            }
            _ = tick.tick() => {
                if state.events.frames.receiver_count() == 0 {
                    pending.clear();
                    last_pool = None;
                    continue;
                }
                if !pending.is_empty() {
                    let json = serde_json::to_string(&pending).expect("events serialise");
                    pending.clear();
                    let _ = state.events.frames.send(Frame::Jobs(json.into()));
                }
                if let Ok(frame) = pool_frame(&state).await
                    && last_pool.as_deref() != Some(&*frame)
                {
                    last_pool = Some(frame.clone());
                    let _ = state.events.frames.send(Frame::Pool(frame));
                }
            }
        }
    }
}

async fn pool_frame(state: &AppState) -> ApiResult<Arc<str>> {
    let view = pool::view(state).await?;
    Ok(serde_json::to_string(&view).expect("the pool view serialises").into())
}

/// Live job transitions and pool snapshots as Server-Sent Events: `event: pool` (a
/// `PoolView`, first at once, then whenever it changes) and `event: jobs` (an array of
/// `{"id","state"}`, batched every 250 ms), and `event: deleted` (an array of the ids of jobs
/// deleted on this host).
#[utoipa::path(get, path = "/v1/events",
    responses((status = 200, content_type = "text/event-stream", body = String,
               description = "`event: pool` with a PoolView, `event: jobs` with [JobEventView]; \
                              the schema describes one event (see `describe_events`)")))]
pub async fn events(
    State(state): State<AppState>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let listener = state.events.frames.subscribe();
    let first = pool_frame(&state).await?;
    // A listener too slow for the channel misses frames; the next pool frame catches it up.
    let live = BroadcastStream::new(listener).filter_map(|frame| std::future::ready(frame.ok()));
    let stream = stream::once(std::future::ready(Frame::Pool(first)))
        .chain(live)
        .map(|frame| {
            Ok(match frame {
                Frame::Pool(data) => Event::default().event("pool").data(&*data),
                Frame::Jobs(data) => Event::default().event("jobs").data(&*data),
                Frame::Deleted(data) => Event::default().event("deleted").data(&*data),
            })
        })
        .take_until(state.closing.clone().cancelled_owned());
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Replaces the `/v1/events` answer's schema in the OpenAPI document with the schema of one
/// event, as OpenAPI 3.2 and schemathesis read an event stream: an object with `event` and a
/// JSON `data` (`contentMediaType` and `contentSchema`), which utoipa cannot write itself.
pub fn describe_events(document: &mut serde_json::Value) {
    let event = |name: &str, data: serde_json::Value| {
        json!({
            "type": "object",
            "required": ["event", "data"],
            "properties": {
                "event": { "const": name },
                "data": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": data,
                },
                "id": { "type": "string" },
                "retry": { "type": "integer" },
            },
        })
    };
    let schema = json!({ "oneOf": [
        event("pool", json!({ "$ref": "#/components/schemas/PoolView" })),
        event("jobs", json!({ "type": "array", "items": { "$ref": "#/components/schemas/JobEventView" } })),
        event("deleted", json!({ "type": "array", "items": { "type": "integer", "format": "int64" } })),
    ]});
    let path = "/paths/~1v1~1events/get/responses/200/content/text~1event-stream/schema";
    if let Some(slot) = document.pointer_mut(path) {
        *slot = schema;
    }
}
