//! Where a backend announces what committed: job transitions, queues that changed, the
//! count of jobs that became queued (the dispatcher's wake-up), and the cluster's pause. Both
//! backends publish here only after a commit; PostgreSQL also publishes what other hosts
//! committed, as their notifications arrive.

use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, watch};

use super::JobEvent;
use super::JobState;

/// The channels a store announces on; cheap to clone.
#[derive(Clone)]
pub struct Announce {
    /// Job transitions.
    pub jobs: broadcast::Sender<JobEvent>,
    /// Names of queues whose items changed.
    pub queues: broadcast::Sender<String>,
    /// How many times a job has become claimable since the store opened: queued, or a slot
    /// of a capped module freed (see `Claimed::seen`).
    pub queued: watch::Sender<u64>,
    /// Whether the cluster is paused.
    pub paused: watch::Sender<bool>,
    /// How many times schedules were created, changed or deleted (the scheduler plans again).
    pub schedules: watch::Sender<u64>,
    /// How many times this host may have missed other hosts' announcements (PostgreSQL's
    /// listener connected again): whoever waits on an announcement reads the store again.
    pub missed: watch::Sender<u64>,
    /// The version of the pause last applied to `paused` (PostgreSQL counts pause changes),
    /// so a read older than one already applied never undoes it.
    pause_version: Arc<Mutex<i64>>,
}

impl Announce {
    /// Channels with nobody listening yet.
    pub fn new() -> Self {
        let (jobs, _) = broadcast::channel(4096);
        let (queues, _) = broadcast::channel(4096);
        Announce {
            jobs,
            queues,
            queued: watch::Sender::new(0),
            paused: watch::Sender::new(false),
            schedules: watch::Sender::new(0),
            missed: watch::Sender::new(0),
            pause_version: Arc::default(),
        }
    }

    /// Applies the cluster's pause as read at `version` of it, unless a later version was
    /// applied already (a heartbeat's read that raced a pause is stale, not news).
    pub fn pause_as_of(&self, version: i64, paused: bool) {
        let mut applied = self.pause_version.lock().expect("pause version lock");
        if version >= *applied {
            *applied = version;
            self.paused.send_if_modified(|now| std::mem::replace(now, paused) != paused);
        }
    }

    /// Says that announcements of other hosts may have been missed.
    pub fn missed_some(&self) {
        self.missed.send_modify(|count| *count += 1);
    }

    /// Announces that schedules changed.
    pub fn schedules_changed(&self) {
        self.schedules.send_modify(|count| *count += 1);
    }

    /// The queued count as of the last commit heard of.
    pub fn queued_so_far(&self) -> u64 {
        *self.queued.borrow()
    }

    /// Publishes committed job transitions and queue changes; `freed` counts the running jobs
    /// of capped modules that ended, each of which may let a waiting job of its module run.
    pub fn publish(&self, jobs: &[JobEvent], queues: &[String], freed: u64) {
        let queued = queued(jobs) + freed;
        if queued > 0 {
            self.queued.send_modify(|count| *count += queued);
        }
        for event in jobs {
            let _ = self.jobs.send(event.clone());
        }
        for queue in queues {
            let _ = self.queues.send(queue.clone());
        }
    }
}

/// How many of the transitions made a job queued.
pub fn queued(jobs: &[JobEvent]) -> u64 {
    jobs.iter().filter(|event| event.state == JobState::Queued).count() as u64
}
