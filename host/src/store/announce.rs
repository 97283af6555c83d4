//! Where a backend announces what committed: job transitions, queues that changed, the
//! count of jobs that became queued (the dispatcher's wake-up), and the cluster's pause. Both
//! backends publish here only after a commit; PostgreSQL also publishes what other hosts
//! committed, as their notifications arrive.

use tokio::sync::{broadcast, watch};

use super::JobEvent;
use crate::wire::JobState;

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
        }
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
