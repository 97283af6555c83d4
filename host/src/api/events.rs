//! Live events for the dashboard and any client: `GET /v1/events` streams Server-Sent
//! Events. One hub task per service turns the store's job transitions into `jobs` events
//! (batched every 250 ms) and the pool's state into `pool` events (sent when it changed),
//! and samples throughput once a second. With no one listening it only samples.
//!
//! Each listener gets only its tenant's: the hub learns the tenants of the jobs in a batch
//! (one read per batch) and of the jobs the workers run, and every listener's stream keeps
//! its tenant's transitions and sees the pool as [`tenancy::own_pool`] shows it.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Extension, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use serde_json::json;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_util::sync::CancellationToken;

use super::auth::Caller;
use super::{ApiResult, AppState, pool, tenancy};
use crate::wire::{JobEventView, PoolView};

/// How often job transitions are flushed and the pool looked at.
const TICK: Duration = Duration::from_millis(250);
/// Seconds of throughput kept.
const THROUGHPUT_SECONDS: usize = 120;

/// One SSE event, made once for every listener and cut to each listener's tenant.
#[derive(Clone)]
pub enum Frame {
    /// A pool snapshot (`event: pool`), with the tenants of the jobs its workers run.
    Pool(Arc<(PoolView, HashMap<i64, String>)>),
    /// Job transitions (`event: jobs`), each with its job's tenant.
    Jobs(Arc<Vec<(String, JobEventView)>>),
    /// Ids of a tenant's jobs deleted (`event: deleted`).
    Deleted(Arc<(String, Vec<i64>)>),
}

impl Frame {
    /// The event as `caller` may see it; `None` when nothing of it is the caller's.
    fn event_for(&self, caller: &Caller) -> Option<Event> {
        match self {
            Frame::Pool(frame) => {
                let (view, tenants) = &**frame;
                let view = tenancy::own_pool(caller, view.clone(), tenants);
                let data = serde_json::to_string(&view).expect("the pool view serialises");
                Some(Event::default().event("pool").data(data))
            }
            Frame::Jobs(events) => {
                let own: Vec<&JobEventView> = events
                    .iter()
                    .filter(|(tenant, _)| caller.owns(tenant))
                    .map(|(_, event)| event)
                    .collect();
                let data = serde_json::to_string(&own).expect("events serialise");
                (!own.is_empty()).then(|| Event::default().event("jobs").data(data))
            }
            Frame::Deleted(frame) => {
                let (tenant, ids) = &**frame;
                let data = serde_json::to_string(ids).expect("ids serialise");
                caller.owns(tenant).then(|| Event::default().event("deleted").data(data))
            }
        }
    }
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
    pub fn deleted(&self, tenant: &str, ids: &[i64]) {
        if !ids.is_empty() {
            let _ = self.frames.send(Frame::Deleted(Arc::new((tenant.to_string(), ids.to_vec()))));
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
    let mut last_pool: Option<String> = None;
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
                if !pending.is_empty()
                    && let Ok(events) = with_tenants(&state, std::mem::take(&mut pending)).await
                {
                    let _ = state.events.frames.send(Frame::Jobs(Arc::new(events)));
                }
                if let Ok((view, tenants)) = pool_frame(&state).await {
                    let json = serde_json::to_string(&view).expect("the pool view serialises");
                    if last_pool.as_deref() != Some(&*json) {
                        last_pool = Some(json);
                        let _ = state.events.frames.send(Frame::Pool(Arc::new((view, tenants))));
                    }
                }
            }
        }
    }
}

/// The pool, and the tenants of the jobs its workers run.
async fn pool_frame(state: &AppState) -> ApiResult<(PoolView, HashMap<i64, String>)> {
    let view = pool::view(state).await?;
    let tenants = tenancy::worker_tenants(state, &view).await?;
    Ok((view, tenants))
}

/// Each transition with its job's tenant, in one read; a job deleted meanwhile is left out.
async fn with_tenants(
    state: &AppState,
    events: Vec<JobEventView>,
) -> ApiResult<Vec<(String, JobEventView)>> {
    let mut ids: Vec<i64> = events.iter().map(|event| event.id).collect();
    ids.sort_unstable();
    ids.dedup();
    let tenants: HashMap<i64, String> =
        state.store.briefs(&ids).await?.into_iter().map(|brief| (brief.id, brief.tenant)).collect();
    Ok(events
        .into_iter()
        .filter_map(|event| Some((tenants.get(&event.id)?.clone(), event)))
        .collect())
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
    Extension(caller): Extension<Caller>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let listener = state.events.frames.subscribe();
    let first = Frame::Pool(Arc::new(pool_frame(&state).await?));
    // A listener too slow for the channel misses frames; the next pool frame catches it up.
    let live = BroadcastStream::new(listener).filter_map(|frame| std::future::ready(frame.ok()));
    let stream = stream::once(std::future::ready(first))
        .chain(live)
        .filter_map(move |frame| std::future::ready(frame.event_for(&caller).map(Ok)))
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
