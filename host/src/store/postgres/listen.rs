//! How hosts hear of each other's changes: one `LISTEN` connection per host on one channel.
//! A transaction that changes jobs, queues or the pause sends a `NOTIFY` before it commits
//! (so it is delivered only if it commits); the listener republishes what other hosts did on
//! this host's channels: the dashboard sees every host's transitions, a dispatcher wakes for
//! a job queued elsewhere, a running job cancelled elsewhere is stopped here.
//!
//! Notifications are a hint for speed only: one lost while the connection was down is made
//! up for by a wake-up after reconnecting and by the dispatcher's and heartbeat's polling.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgListener, PgPool};
use tokio_util::sync::CancellationToken;

use crate::store::announce::Announce;
use crate::store::changes::Changes;
use crate::store::{JobEvent, JobState};

/// The channel every host listens on.
pub const CHANNEL: &str = "wasmpool";

/// Transitions per notification: keeps a payload well under PostgreSQL's 8000-byte limit.
const EVENTS_PER_PAYLOAD: usize = 200;

/// What one notification says.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Payload {
    /// The node incarnation that made the change (its own notifications are skipped: it
    /// announced them at commit already).
    n: i64,
    /// Job transitions: id and new state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    e: Vec<(i64, JobState)>,
    /// Queues whose items changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    q: Vec<String>,
    /// The cluster's pause, when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p: Option<bool>,
    /// The pause's version (see `0007_pause_version.sql`).
    #[serde(default, skip_serializing_if = "is_zero_version")]
    v: i64,
    /// Whether schedules were created, changed or deleted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    s: bool,
    /// Running jobs of capped modules that ended (or caps raised): each may let a waiting
    /// job of its module be claimed.
    #[serde(default, skip_serializing_if = "is_zero")]
    f: u64,
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}

fn is_zero_version(version: &i64) -> bool {
    *version == 0
}

/// The notifications announcing a transaction's changes (none if it changed nothing).
pub fn payloads(node: i64, changes: &Changes) -> Vec<String> {
    let mut payloads = Vec::new();
    let mut first = Payload {
        n: node,
        q: changes.queues.clone(),
        p: changes.paused.map(|(paused, _)| paused),
        v: changes.paused.map_or(0, |(_, version)| version),
        s: changes.schedules,
        f: changes.freed,
        ..Payload::default()
    };
    let mut chunks = changes.jobs.chunks(EVENTS_PER_PAYLOAD);
    first.e = chunks.next().map(events).unwrap_or_default();
    if !first.e.is_empty() || !first.q.is_empty() || first.p.is_some() || first.s || first.f > 0 {
        payloads.push(encode(&first));
    }
    for chunk in chunks {
        payloads.push(encode(&Payload { n: node, e: events(chunk), ..Payload::default() }));
    }
    payloads
}

fn events(chunk: &[JobEvent]) -> Vec<(i64, JobState)> {
    chunk.iter().map(|event| (event.id, event.state)).collect()
}

fn encode(payload: &Payload) -> String {
    serde_json::to_string(payload).expect("a payload serialises")
}

/// First wait before reconnecting; doubles up to [`RECONNECT_MAX`].
const RECONNECT: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// Listens until `stop`, reconnecting with backoff whenever the connection fails.
pub async fn run(pool: PgPool, announce: Announce, me: Arc<AtomicI64>, stop: CancellationToken) {
    let mut wait = RECONNECT;
    loop {
        match listener(&pool).await {
            Ok(mut listener) => {
                wait = RECONNECT;
                // Whatever was announced while no connection listened is lost: wake the
                // dispatcher to look for work rather than wait for its poll.
                announce.queued.send_modify(|count| *count += 1);
                // And the scheduler to read the schedules again, and whoever waits for a
                // job to end (a follower of its output) to read the job again.
                announce.schedules_changed();
                announce.missed_some();
                if hear(&mut listener, &announce, &me, &stop).await {
                    return;
                }
            }
            Err(e) => tracing::warn!("listening for other hosts' changes failed: {e}"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(RECONNECT_MAX);
    }
}

async fn listener(pool: &PgPool) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Republishes notifications until the connection is lost (false) or `stop` (true).
async fn hear(
    listener: &mut PgListener,
    announce: &Announce,
    me: &AtomicI64,
    stop: &CancellationToken,
) -> bool {
    loop {
        let notification = tokio::select! {
            () = stop.cancelled() => return true,
            notification = listener.try_recv() => notification,
        };
        let notification = match notification {
            Ok(Some(notification)) => notification,
            Ok(None) => {
                tracing::warn!("lost the connection that listens for other hosts' changes");
                return false;
            }
            Err(e) => {
                tracing::warn!("listening for other hosts' changes failed: {e}");
                return false;
            }
        };
        match serde_json::from_str::<Payload>(notification.payload()) {
            Ok(payload) => republish(payload, announce, me.load(Ordering::SeqCst)),
            Err(e) => tracing::warn!("ignoring a notification that does not parse: {e}"),
        }
    }
}

fn republish(payload: Payload, announce: &Announce, me: i64) {
    if let Some(paused) = payload.p {
        announce.pause_as_of(payload.v, paused);
    }
    if payload.n == me {
        return;
    }
    if payload.s {
        announce.schedules_changed();
    }
    let jobs: Vec<JobEvent> =
        payload.e.into_iter().map(|(id, state)| JobEvent { id, state }).collect();
    announce.publish(&jobs, &payload.q, payload.f);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_transaction_is_announced_in_payloads_under_the_limit() {
        let jobs: Vec<JobEvent> =
            (0..1000).map(|id| JobEvent { id: 1 << 40 | id, state: JobState::TimedOut }).collect();
        let changes = Changes { jobs, queues: vec!["q".into()], ..Changes::default() };
        let payloads = payloads(7, &changes);
        assert_eq!(payloads.len(), 5);
        assert!(payloads.iter().all(|payload| payload.len() < 8000));
        let decoded: Vec<Payload> =
            payloads.iter().map(|p| serde_json::from_str(p).expect("parses")).collect();
        assert_eq!(decoded.iter().map(|p| p.e.len()).sum::<usize>(), 1000);
        assert_eq!(decoded[0].q, ["q"]);
    }

    #[test]
    fn nothing_changed_means_no_notification() {
        assert!(payloads(1, &Changes::default()).is_empty());
    }
}
