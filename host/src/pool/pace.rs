//! How long the pool's jobs take lately, and so how many jobs each worker is sent ahead of
//! the one it runs.
//!
//! Sending ahead pays only when jobs are short: a worker of no-op jobs would otherwise spend
//! most of its time waiting for the supervisor's next frame. It costs when a job runs long,
//! since what waits behind it could have run elsewhere (the driver takes it back, see
//! `slot`). So the depth follows the mean run time: none at or above [`SHORT_JOB`], else
//! about [`AHEAD_TIME`] of work, at most [`AHEAD_MAX`], rounded down to a power of two so
//! that small changes in the mean do not resize the pool's room at every job.
//!
//! The room is the pool's semaphore: a permit per worker, plus `workers × depth` while the
//! depth is above zero. Growing adds permits at once; shrinking forgets the free ones and
//! retires the rest as the jobs holding them end.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Send jobs ahead only while jobs take less than this on average.
pub const SHORT_JOB: Duration = Duration::from_millis(5);
/// Send about this much work ahead to each worker...
pub const AHEAD_TIME: Duration = Duration::from_millis(5);
/// ...but at most this many jobs.
pub const AHEAD_MAX: usize = 16;

/// The pool's pace and the room it makes for jobs sent ahead.
pub struct Pace {
    workers: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Moving mean of the recent run times; `None` before the first.
    mean: Option<Duration>,
    /// Jobs each worker is sent ahead.
    depth: usize,
    /// Permits added for them, and how many of those are still to be retired.
    extra: usize,
    retire: usize,
}

impl Pace {
    /// The pace of a pool of `workers`, which sends nothing ahead until it has seen a job.
    pub fn new(workers: usize) -> Pace {
        Pace { workers, state: Mutex::default() }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("pace lock")
    }

    /// The moving mean of the recent run times; `None` before the first job ended.
    pub fn mean(&self) -> Option<Duration> {
        self.state().mean
    }

    /// How many jobs each worker may hold beyond the one it runs.
    pub fn depth(&self) -> usize {
        self.state().depth
    }

    /// Notes a job's run time and resizes `capacity` if the depth changed.
    pub fn observe(&self, took: Duration, capacity: &Semaphore) {
        let mut state = self.state();
        let mean = next_mean(state.mean, took);
        self.set_mean(&mut state, mean, capacity);
    }

    /// Notes a job still running after `took`, which is not short: jobs turned long, and the
    /// room for jobs ahead closes now rather than after a few of them ended (none may end for
    /// a long while, and what waits for a worker meanwhile is better off elsewhere).
    pub fn running_long(&self, took: Duration, capacity: &Semaphore) {
        let mut state = self.state();
        let mean = state.mean.map_or(took, |mean| mean.max(took));
        self.set_mean(&mut state, mean, capacity);
    }

    fn set_mean(&self, state: &mut State, mean: Duration, capacity: &Semaphore) {
        state.mean = Some(mean);
        let depth = depth_for(mean);
        if depth == state.depth {
            return;
        }
        state.depth = depth;
        let target = self.workers * depth;
        if target >= state.extra {
            let grow = target - state.extra;
            // Permits still waiting to be retired are kept instead of added anew.
            let kept = grow.min(state.retire);
            state.retire -= kept;
            capacity.add_permits(grow - kept);
        } else {
            state.retire += state.extra - target;
            state.retire -= capacity.forget_permits(state.retire);
        }
        state.extra = target;
    }

    /// Gives back the room a job held, or retires it while the room is shrinking.
    pub fn release(&self, permit: OwnedSemaphorePermit) {
        let mut state = self.state();
        if state.retire > 0 {
            state.retire -= 1;
            permit.forget();
        } else {
            drop(state);
            drop(permit);
        }
    }
}

/// A moving mean of run times after one more, weighing the newest a tenth: a few short jobs
/// after long ones (or the reverse) move it within about ten jobs.
fn next_mean(mean: Option<Duration>, took: Duration) -> Duration {
    match mean {
        None => took,
        Some(mean) => mean.mul_f64(0.9) + took.mul_f64(0.1),
    }
}

/// The depth for a mean run time: about [`AHEAD_TIME`] of work, a power of two from 1 to
/// [`AHEAD_MAX`], and none for jobs that are not short.
fn depth_for(mean: Duration) -> usize {
    if mean >= SHORT_JOB {
        return 0;
    }
    let jobs = (AHEAD_TIME.as_nanos() / mean.as_nanos().max(1)).clamp(1, AHEAD_MAX as u128);
    1 << (u128::BITS - 1 - jobs.leading_zeros())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn depth_follows_the_mean_in_powers_of_two() {
        assert_eq!(depth_for(Duration::from_micros(10)), AHEAD_MAX);
        assert_eq!(depth_for(Duration::from_micros(600)), 8);
        assert_eq!(depth_for(Duration::from_micros(1500)), 2);
        assert_eq!(depth_for(Duration::from_micros(4999)), 1);
        assert_eq!(depth_for(SHORT_JOB), 0);
        assert_eq!(depth_for(Duration::from_secs(1)), 0);
    }

    /// Short jobs open room for jobs ahead; long ones close it again, including the room
    /// held by jobs that were running when the jobs got long.
    #[test]
    fn the_room_grows_with_short_jobs_and_shrinks_back_to_one_per_worker() {
        let capacity = Arc::new(Semaphore::new(2));
        let pace = Pace::new(2);
        pace.observe(Duration::from_micros(10), &capacity);
        assert_eq!(pace.depth(), AHEAD_MAX);
        assert_eq!(capacity.available_permits(), 2 + 2 * AHEAD_MAX);
        let held: Vec<_> = (0..10).map(|_| capacity.clone().try_acquire_owned().unwrap()).collect();
        pace.observe(Duration::from_secs(10), &capacity);
        assert_eq!(pace.depth(), 0);
        // Of the 34 permits, 10 are held; the free 24 went, 8 more go as jobs end.
        assert_eq!(capacity.available_permits(), 0);
        held.into_iter().for_each(|permit| pace.release(permit));
        assert_eq!(capacity.available_permits(), 2);
    }

    /// One job seen running long closes the room at once, however short the jobs before it.
    #[test]
    fn a_job_running_long_closes_the_room_at_once() {
        let capacity = Arc::new(Semaphore::new(2));
        let pace = Pace::new(2);
        (0..100).for_each(|_| pace.observe(Duration::from_micros(10), &capacity));
        assert_eq!(capacity.available_permits(), 2 + 2 * AHEAD_MAX);
        pace.running_long(Duration::from_millis(20), &capacity);
        assert_eq!((pace.depth(), capacity.available_permits()), (0, 2));
    }
}
