//! The claim-ahead machinery of a lane's loop, as plain data: how many jobs to claim (one per
//! free room in the pool, and while attempts are short a few ahead), the notes batched into
//! the next store call (starts and ended attempts), when a lane that came back short is
//! worth claiming again, and the backoff while the store fails. No I/O: the loop (`run.rs`)
//! acts on what these say.

use std::mem::take;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::pool::{AHEAD_TIME, SHORT_JOB};
use crate::store::{Attempt, Finished, StoreError};

/// Claims ahead only while attempts take less than the pool's [`SHORT_JOB`] on average, about
/// [`AHEAD_TIME`] of work per worker, but at most this many jobs.
const AHEAD_MAX_PER_WORKER: usize = 64;
/// While every worker is busy, starts and ended attempts are recorded with the next claim,
/// or once this many wait...
pub const RECORD_BATCH: usize = 64;
/// ...or once the first of them has waited this long.
const RECORD_DELAY: Duration = Duration::from_millis(1);
/// After a failed store call, wait this long before the next (doubling up to
/// [`STORE_RETRY_MAX`]); the notes it carried are kept and go with the next call.
const STORE_RETRY: Duration = Duration::from_millis(50);
const STORE_RETRY_MAX: Duration = Duration::from_secs(2);

/// Jobs to claim beyond the free room of a pool of `workers`, given the pool's mean run time
/// (its one pace): none until attempts are known to be short.
pub fn ahead(workers: usize, mean: Option<Duration>) -> usize {
    match mean {
        Some(mean) if mean < SHORT_JOB => {
            let per_worker = AHEAD_TIME.as_nanos() / mean.as_nanos().max(1);
            workers * (per_worker as usize).clamp(1, AHEAD_MAX_PER_WORKER)
        }
        _ => 0,
    }
}

/// How many jobs to claim: one per free room in the pool (`idle`) plus the jobs to hold
/// `ahead`, less the `ready` ones held already. Claims ahead wait until half the ahead is
/// used, so they come in batches.
pub fn wanted(idle: usize, ready: usize, ahead: usize) -> usize {
    let want = (idle + ahead).saturating_sub(ready);
    if ready == 0 || want > ahead / 2 { want } else { 0 }
}

/// What the next store call records: jobs that reached a worker and attempts that ended,
/// and since when the oldest of them has waited.
#[derive(Default)]
pub struct Notes {
    started: Vec<(Attempt, SystemTime)>,
    ended: Vec<Finished>,
    since: Option<Instant>,
}

/// Notes as a store call takes them (and gives them back if it failed).
pub type Taken = (Vec<(Attempt, SystemTime)>, Vec<Finished>);

impl Notes {
    /// An attempt started on its worker at `at`.
    pub fn started(&mut self, attempt: Attempt, at: SystemTime) {
        self.since.get_or_insert_with(Instant::now);
        self.started.push((attempt, at));
    }

    /// An attempt ended.
    pub fn ended(&mut self, end: Finished) {
        self.since.get_or_insert_with(Instant::now);
        self.ended.push(end);
    }

    pub fn len(&self) -> usize {
        self.started.len() + self.ended.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// When the notes are due to be recorded even in the middle of a batch; `None` if there
    /// are none.
    pub fn due(&self) -> Option<Instant> {
        self.since.map(|since| since + RECORD_DELAY)
    }

    pub fn take(&mut self) -> Taken {
        self.since = None;
        (take(&mut self.started), take(&mut self.ended))
    }

    /// Takes back the notes of a store call that failed, ahead of any noted since.
    pub fn restore(&mut self, (started, ended): Taken) {
        if started.is_empty() && ended.is_empty() {
            return;
        }
        self.since = Some(Instant::now());
        self.started.splice(0..0, started);
        self.ended.splice(0..0, ended);
    }
}

/// Why the loop stopped claiming: the last claim came back short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dry {
    /// The store's queued count the claim saw: claim again once it moves past this...
    pub seen: u64,
    /// ...or at this time (the next delayed job falls due, or a recheck).
    pub until: Instant,
}

/// Backoff between store calls while they fail.
#[derive(Default)]
pub struct Failing {
    wait: Option<Duration>,
    /// No store call before this.
    pub until: Option<Instant>,
}

impl Failing {
    /// Notes how a store call went: a failure is logged and pushes the next call back.
    pub fn after<T>(&mut self, answer: &Result<T, StoreError>) {
        match answer {
            Ok(_) => *self = Failing::default(),
            Err(e) => {
                let wait = self.wait.map_or(STORE_RETRY, |wait| (wait * 2).min(STORE_RETRY_MAX));
                tracing::warn!("the store failed ({e}); trying again in {wait:?}");
                self.wait = Some(wait);
                self.until = Some(Instant::now() + wait);
            }
        }
    }

    /// Whether a store call may go now.
    pub fn may_call(&self) -> bool {
        self.until.is_none_or(|until| until <= Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ahead_follows_the_pools_pace() {
        assert_eq!(ahead(4, None), 0, "nothing ahead before a job ended");
        assert_eq!(ahead(4, Some(SHORT_JOB)), 0, "nor once jobs are not short");
        assert_eq!(ahead(2, Some(Duration::from_millis(1))), 2 * 5);
        assert_eq!(ahead(2, Some(Duration::from_nanos(1))), 2 * AHEAD_MAX_PER_WORKER);
        assert_eq!(ahead(3, Some(Duration::from_micros(4_900))), 3, "at least one per worker");
    }

    #[test]
    fn claims_ahead_come_in_batches() {
        assert_eq!(wanted(2, 0, 0), 2, "one per free room");
        assert_eq!(wanted(0, 0, 10), 10);
        assert_eq!(wanted(0, 6, 10), 0, "six of ten held: wait for half to go");
        assert_eq!(wanted(0, 4, 10), 6);
        assert_eq!(wanted(3, 20, 10), 0);
    }

    #[test]
    fn failed_notes_go_first_with_the_next_call() {
        let attempt = |id| Attempt { id, number: 1, node_id: 0 };
        let mut notes = Notes::default();
        assert_eq!(notes.due(), None);
        let before = Instant::now();
        notes.started(attempt(1), SystemTime::UNIX_EPOCH);
        assert!(notes.due().unwrap() >= before + RECORD_DELAY);
        let taken = notes.take();
        assert!(notes.is_empty() && notes.due().is_none());
        notes.started(attempt(2), SystemTime::UNIX_EPOCH);
        notes.restore(taken);
        let (started, ended) = notes.take();
        let ids: Vec<_> = started.iter().map(|(attempt, _)| attempt.id).collect();
        assert_eq!((ids, ended.len()), (vec![1, 2], 0));
    }

    #[test]
    fn a_failing_store_is_called_less_and_less_often() {
        let mut failing = Failing::default();
        assert!(failing.may_call());
        let failed: Result<(), StoreError> = Err(StoreError::Unavailable("down".into()));
        let mut waits = Vec::new();
        for _ in 0..8 {
            failing.after(&failed);
            waits.push(failing.wait.unwrap());
        }
        assert!(!failing.may_call());
        assert_eq!(waits[..3], [STORE_RETRY, STORE_RETRY * 2, STORE_RETRY * 4]);
        assert_eq!(waits[7], STORE_RETRY_MAX);
        failing.after(&Ok::<(), StoreError>(()));
        assert!(failing.may_call());
    }
}
