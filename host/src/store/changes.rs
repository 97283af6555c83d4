//! What a transaction changed, gathered while it runs and announced once it commits: the
//! one record both backends fill, and the one place it is published ([`Announce::committed`]).

use super::announce::{self, Announce};
use super::{JobEvent, JobId, JobState};

/// What a transaction (SQLite: one operation of the writer's group) changed.
#[derive(Debug, Default)]
pub struct Changes {
    /// Job transitions.
    pub jobs: Vec<JobEvent>,
    /// Queues that gained or lost items.
    pub queues: Vec<String>,
    /// Moves between states (`None`: not stored), for the per-state counts SQLite keeps in
    /// memory (PostgreSQL counts in the database and leaves this empty).
    pub counts: Vec<(Option<JobState>, Option<JobState>)>,
    /// The cluster's pause as set, and its version (PostgreSQL).
    pub paused: Option<(bool, i64)>,
    /// Whether schedules were created, changed or deleted.
    pub schedules: bool,
    /// Running jobs of capped modules that ended (or caps raised): each may let a job
    /// waiting for its module's cap be claimed.
    pub freed: u64,
}

impl Changes {
    /// Job `id` moved from `from` (`None`: it was not stored) to `to`.
    pub fn moved(&mut self, id: JobId, from: Option<JobState>, to: JobState) {
        self.jobs.push(JobEvent { id, state: to });
        self.counts.push((from, Some(to)));
    }

    /// Job `id` is now `to`, from a state the backend did not read (PostgreSQL, which keeps
    /// no counts of its own).
    pub fn became(&mut self, id: JobId, to: JobState) {
        self.jobs.push(JobEvent { id, state: to });
    }

    /// A job in state `from` was deleted.
    pub fn removed(&mut self, from: JobState) {
        self.counts.push((Some(from), None));
    }

    /// Adds what another transaction changed.
    pub fn absorb(&mut self, other: Changes) {
        self.jobs.extend(other.jobs);
        self.queues.extend(other.queues);
        self.counts.extend(other.counts);
        self.paused = other.paused.or(self.paused);
        self.schedules |= other.schedules;
        self.freed += other.freed;
    }

    /// How many of the changes made a job claimable (see [`Announce::queued`]).
    pub fn queued(&self) -> u64 {
        announce::queued(&self.jobs) + self.freed
    }
}

impl Announce {
    /// Announces what a transaction changed, once it committed (never before: a listener
    /// must find the change when it reads).
    pub fn committed(&self, changes: &Changes) {
        if let Some((paused, version)) = changes.paused {
            self.pause_as_of(version, paused);
        }
        if changes.schedules {
            self.schedules_changed();
        }
        self.publish(&changes.jobs, &changes.queues, changes.freed);
    }
}
