//! This host's part in a cluster (the PostgreSQL store): it heartbeats, rescues the jobs of
//! hosts gone silent, and acts on what it hears — a job cancelled or rescued elsewhere is
//! stopped here, a pause anywhere pauses it, and if the cluster declared this host lost (it
//! was stopped or cut off past its lease) it stops everything it held and joins again as a
//! new incarnation. The decisions are the database's (see `store/postgres`); this loop only
//! carries them out. With SQLite there is no cluster and this loop does not run.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::job::JobState;
use crate::lanes::Lanes;
use crate::store::{Beat, JobEvent, Store};

/// Timing of the cluster's liveness.
#[derive(Clone, Copy, Debug)]
pub struct Liveness {
    /// How often this host reports itself alive.
    pub heartbeat: Duration,
    /// How long a silent host stays alive before the others declare it lost.
    pub lease: Duration,
}

/// Whether this host is out of the cluster and why: declared lost, it could not join again
/// (another live host took its name). `/healthz` answers 503 with the reason meanwhile, so a
/// load balancer stops sending it work it cannot do.
#[derive(Clone, Debug, Default)]
pub struct Standing(Arc<Mutex<Option<String>>>);

impl Standing {
    /// Why this host is out of the cluster, if it is.
    pub fn out(&self) -> Option<String> {
        self.0.lock().expect("standing lock").clone()
    }

    fn set(&self, why: Option<String>) {
        *self.0.lock().expect("standing lock") = why;
    }
}

/// What this host reports with a heartbeat, made fresh each time.
pub type Report = Arc<dyn Fn() -> BoxFuture<'static, Beat> + Send + Sync>;

/// Heartbeats, rescues and listens until `stop`.
pub async fn run(
    store: Store,
    lanes: Arc<Lanes>,
    report: Report,
    liveness: Liveness,
    standing: Standing,
    stop: CancellationToken,
) {
    let mut events = store.subscribe();
    let mut paused = store.paused();
    lanes.set_paused(*paused.borrow_and_update());
    let mut tick = tokio::time::interval(liveness.heartbeat);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {
                beat(&store, &lanes, &report, &standing).await;
                rescue(&store, liveness.lease).await;
            }
            event = events.recv() => match event {
                Ok(JobEvent { id, state: JobState::Cancelled }) => lanes.cancel(id),
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
            Ok(()) = paused.changed() => lanes.set_paused(*paused.borrow_and_update()),
        }
    }
}

/// One heartbeat, and what follows from its answer.
async fn beat(store: &Store, lanes: &Lanes, report: &Report, standing: &Standing) {
    match store.heartbeat(report().await).await {
        Ok(heard) if !heard.alive => {
            tracing::error!(
                "the cluster declared this host lost (it was silent past its lease); its jobs \
                 run elsewhere now: stopping them here and joining again"
            );
            lanes.abandon();
            match store.rejoin().await {
                Ok(()) => standing.set(None),
                Err(e) => {
                    tracing::error!("joining the cluster again failed (will retry): {e}");
                    standing.set(Some(format!(
                        "this host was declared lost and cannot join the cluster again: {e}"
                    )));
                }
            }
        }
        Ok(heard) => heard.gone.into_iter().for_each(|id| lanes.cancel(id)),
        Err(e) => tracing::warn!("heartbeat failed: {e}"),
    }
}

/// Declares silent hosts lost and queues their jobs again (whichever host gets there first).
async fn rescue(store: &Store, lease: Duration) {
    match store.rescue(lease).await {
        Ok(rescued) if !rescued.nodes.is_empty() => tracing::warn!(
            hosts = ?rescued.nodes,
            not_started = rescued.jobs.released,
            requeued = rescued.jobs.requeued,
            failed = rescued.jobs.failed,
            "hosts silent past the lease were declared lost; their jobs were rescued"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!("looking for lost hosts failed: {e}"),
    }
}
