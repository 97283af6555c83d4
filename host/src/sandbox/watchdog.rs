//! The timeout of a job that runs without epoch interruption (every job without a fuel
//! limit: see [`super::Flavor`]).
//!
//! Such code never checks a deadline, so nothing inside the guest's thread can stop it. The
//! watchdog is a thread of its own that sleeps until the running job's deadline. If the job
//! is still running then, it ends the job itself: it takes the output captured so far, hands
//! the `timed_out` result to the worker's [`Overran`] sink, and from then on the job's own
//! end (if the guest ever returns) is dropped. The worker's one thread is still inside the
//! guest, so the worker cannot run anything more: the supervisor replaces it when it reads
//! that result. That is the price of a compute-bound timeout (a worker restart); the price
//! of the epoch checks it replaces was a third of every guest instruction.
//!
//! A guest blocked in a host call (a WASI sleep) is stopped earlier and cheaply by the
//! async timeout around the call (`run::within`); the watchdog waits [`MARGIN`] longer, so it
//! acts only on a guest that is computing.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::output::CappedOutput;
use crate::job::{JobResult, Outcome};

/// How long after the job's timeout the watchdog acts: after the async timeout's own 5 ms,
/// with room for a loaded machine to run it.
pub const MARGIN: Duration = Duration::from_millis(50);

/// Where the watchdog sends the result of a job it ended. Called on the watchdog's thread.
pub type Overran = Arc<dyn Fn(JobResult) + Send + Sync>;

/// One job being watched: what the watchdog needs to end it.
struct Watched {
    /// Which run this is (a job id may come back, as another attempt).
    run: u64,
    id: String,
    timeout: Duration,
    deadline: Instant,
    started: Instant,
    stdout: CappedOutput,
    stderr: CappedOutput,
}

#[derive(Default)]
struct State {
    watched: Option<Watched>,
    /// Runs the watchdog has ended: their own end is dropped.
    ended: Option<u64>,
    next_run: u64,
    stop: bool,
    /// When the thread wakes next by itself (`None`: only when told). Arming a run whose
    /// deadline comes later needs no wake-up: jobs start and end by the thousand a second,
    /// and a wake-up each would cost two context switches per job.
    wakes_at: Option<Instant>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

/// The watchdog of one worker's sandbox; the thread is started on the first job it watches
/// and stops when this is dropped.
pub struct Watchdog {
    shared: Arc<Shared>,
    overran: Overran,
    started: bool,
}

/// A watched run; give it back with [`Watchdog::disarm`] when the run ends.
#[must_use]
pub struct Armed(u64);

impl Watchdog {
    /// A watchdog that sends what it ends to `overran`.
    pub fn new(overran: Overran) -> Self {
        let shared = Arc::new(Shared { state: Mutex::default(), changed: Condvar::new() });
        Watchdog { shared, overran, started: false }
    }

    /// Watches a job that started at `started` with this timeout and capture.
    pub fn arm(
        &mut self,
        id: &str,
        timeout: Duration,
        started: Instant,
        stdout: &CappedOutput,
        stderr: &CappedOutput,
    ) -> std::io::Result<Armed> {
        if !self.started {
            let (shared, overran) = (self.shared.clone(), self.overran.clone());
            std::thread::Builder::new()
                .name("watchdog".into())
                .spawn(move || watch(&shared, overran.as_ref()))?;
            self.started = true;
        }
        let mut state = lock(&self.shared);
        state.next_run += 1;
        let run = state.next_run;
        let deadline = started + timeout + MARGIN;
        state.watched = Some(Watched {
            run,
            id: id.to_string(),
            timeout,
            deadline,
            started,
            stdout: stdout.clone(),
            stderr: stderr.clone(),
        });
        let wake = state.wakes_at.is_none_or(|at| deadline < at);
        drop(state);
        if wake {
            self.shared.changed.notify_one();
        }
        Ok(Armed(run))
    }

    /// Stops watching the run; `false` if the watchdog ended it first (its result was sent,
    /// and the run's own must be dropped).
    pub fn disarm(&self, armed: Armed) -> bool {
        let mut state = lock(&self.shared);
        if state.watched.as_ref().is_some_and(|watched| watched.run == armed.0) {
            state.watched = None;
        }
        state.ended != Some(armed.0)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        lock(&self.shared).stop = true;
        self.shared.changed.notify_one();
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The watchdog thread: sleeps until the watched run's deadline, and ends the run if it is
/// still watched then.
fn watch(shared: &Shared, overran: &(dyn Fn(JobResult) + Send + Sync)) {
    let mut state = lock(shared);
    loop {
        if state.stop {
            return;
        }
        let Some(deadline) = state.watched.as_ref().map(|watched| watched.deadline) else {
            state.wakes_at = None;
            state = shared.changed.wait(state).unwrap_or_else(std::sync::PoisonError::into_inner);
            continue;
        };
        let now = Instant::now();
        if now < deadline {
            state.wakes_at = Some(deadline);
            state = shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
            continue;
        }
        let watched = state.watched.take().expect("watched");
        state.ended = Some(watched.run);
        drop(state);
        overran(timed_out(watched));
        state = lock(shared);
    }
}

/// The result of a run ended at its deadline: `timed_out`, with the output so far.
fn timed_out(watched: Watched) -> JobResult {
    let (stdout, stdout_truncated) = watched.stdout.take();
    let (stderr, stderr_truncated) = watched.stderr.take();
    JobResult {
        stdout,
        stderr,
        stdout_truncated,
        stderr_truncated,
        run_time: watched.started.elapsed(),
        ..JobResult::without_output(watched.id, Outcome::TimedOut(watched.timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink() -> (Overran, std::sync::mpsc::Receiver<JobResult>) {
        let (send, receive) = std::sync::mpsc::channel();
        let send = Mutex::new(send);
        (Arc::new(move |result| send.lock().unwrap().send(result).unwrap()), receive)
    }

    #[test]
    fn a_run_past_its_deadline_is_ended_with_its_output_and_its_own_end_dropped() {
        let (overran, results) = sink();
        let mut dog = Watchdog::new(overran);
        let (out, err) = (CappedOutput::new(100), CappedOutput::new(100));
        out.append(b"so far\n");
        let armed = dog.arm("j1", Duration::from_millis(10), Instant::now(), &out, &err).unwrap();
        let result = results.recv_timeout(Duration::from_secs(10)).expect("the watchdog acts");
        assert_eq!(result.id, "j1");
        assert_eq!(result.outcome, Outcome::TimedOut(Duration::from_millis(10)));
        assert_eq!(result.stdout, b"so far\n");
        assert!(!dog.disarm(armed), "the run's own end is dropped");
    }

    #[test]
    fn a_run_that_ends_in_time_is_left_alone() {
        let (overran, results) = sink();
        let mut dog = Watchdog::new(overran);
        let (out, err) = (CappedOutput::new(100), CappedOutput::new(100));
        let armed = dog.arm("j1", Duration::from_millis(50), Instant::now(), &out, &err).unwrap();
        assert!(dog.disarm(armed));
        // A later run is still watched, and only it is ended.
        let armed = dog.arm("j2", Duration::from_millis(1), Instant::now(), &out, &err).unwrap();
        let result = results.recv_timeout(Duration::from_secs(10)).expect("the watchdog acts");
        assert_eq!(result.id, "j2");
        assert!(!dog.disarm(armed));
        assert!(results.try_recv().is_err(), "j1 was never ended");
    }
}
