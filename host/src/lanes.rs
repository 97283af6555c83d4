//! This host's lanes: each a pool of worker processes of its own and a dispatcher that claims
//! only that lane's jobs, so long jobs in one lane never hold up the jobs of another. What
//! acts on every lane — cancel, pause, drain, the attempts held, the workers' snapshot — goes
//! through [`Lanes`]; the rest of the service never picks a lane's pool or dispatcher itself.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::dispatcher::Dispatcher;
use crate::pool::{Pool, Snapshot, WorkerInfo};
use crate::store::{Attempt, JobId};

/// One lane: its name, its workers and the dispatcher feeding them.
pub struct Lane {
    /// Its name, as jobs give it.
    pub name: String,
    /// Its worker processes.
    pub pool: Arc<Pool>,
    /// Claims its jobs and runs them on `pool`.
    pub dispatcher: Arc<Dispatcher>,
}

/// Every lane of this host, in the order `serve --lane` gave them.
pub struct Lanes {
    lanes: Vec<Lane>,
}

impl Lanes {
    /// The lanes, started (their pools spawn workers; call [`Lanes::run`] to dispatch).
    pub fn new(lanes: Vec<Lane>) -> Lanes {
        Lanes { lanes }
    }

    /// The lanes, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Lane> {
        self.lanes.iter()
    }

    /// Whether this host serves `name`.
    pub fn serves(&self, name: &str) -> bool {
        self.lanes.iter().any(|lane| lane.name == name)
    }

    /// The lane's name and its workers, for each lane.
    pub fn sizes(&self) -> Vec<(String, usize)> {
        self.lanes.iter().map(|lane| (lane.name.clone(), lane.pool.size())).collect()
    }

    /// Starts every lane's dispatcher; they claim until `stop`.
    pub fn run(&self, stop: &CancellationToken) -> Vec<JoinHandle<()>> {
        let run = |lane: &Lane| tokio::spawn(lane.dispatcher.clone().run(stop.clone()));
        self.lanes.iter().map(run).collect()
    }

    /// Stops or restarts handing out queued jobs, in every lane.
    pub fn set_paused(&self, paused: bool) {
        self.lanes.iter().for_each(|lane| lane.dispatcher.set_paused(paused));
    }

    /// Whether handing out is paused (every lane is paused or none).
    pub fn paused(&self) -> bool {
        self.lanes.iter().any(|lane| lane.dispatcher.paused())
    }

    /// Stops a job wherever it runs or waits here (the store has it cancelled already).
    pub fn cancel(&self, id: JobId) {
        self.lanes.iter().for_each(|lane| lane.dispatcher.cancel(id));
    }

    /// The attempts this host holds, in every lane.
    pub fn holding(&self) -> Vec<Attempt> {
        self.lanes.iter().flat_map(|lane| lane.dispatcher.holding()).collect()
    }

    /// Stops every attempt this host holds (the cluster gave them to others).
    pub fn abandon(&self) {
        self.lanes.iter().for_each(|lane| lane.dispatcher.abandon());
    }

    /// Stops claiming in every lane and lets their running jobs finish within `grace` (all
    /// lanes at once), then stops the rest and gives them back to the queue.
    pub async fn drain(&self, stop: &CancellationToken, grace: Duration) {
        let drains = self.lanes.iter().map(|lane| lane.dispatcher.drain(stop, grace));
        futures_util::future::join_all(drains).await;
    }

    /// Every worker of every lane, lane after lane, numbered from 0 across the lanes (so a
    /// slot names one worker of the host); restarts summed.
    pub fn snapshot(&self) -> Snapshot {
        let mut workers: Vec<WorkerInfo> = Vec::new();
        let mut restarts = 0;
        for lane in &self.lanes {
            let snapshot = lane.pool.snapshot();
            restarts += snapshot.restarts;
            let offset = workers.len();
            workers.extend(
                snapshot
                    .workers
                    .into_iter()
                    .map(|worker| WorkerInfo { slot: offset + worker.slot, ..worker }),
            );
        }
        Snapshot { workers, restarts }
    }

    /// The lane of each slot of [`Lanes::snapshot`].
    pub fn slot_lanes(&self) -> Vec<String> {
        self.lanes.iter().flat_map(|lane| vec![lane.name.clone(); lane.pool.size()]).collect()
    }

    /// Stops every lane's workers (once nothing else holds the pools).
    pub async fn shutdown(self) {
        for lane in self.lanes {
            drop(lane.dispatcher);
            if let Ok(pool) = Arc::try_unwrap(lane.pool) {
                pool.shutdown().await;
            }
        }
    }
}
