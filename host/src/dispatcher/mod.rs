//! The dispatcher of one lane: claims queued jobs from the store when the lane's workers have
//! room, hands them to the pool, and records each attempt's end — a final state, or a retry
//! after an exponential backoff with jitter while attempts remain. It also carries out
//! cancel, pause and drain.
//!
//! It owns each attempt from its claim to its record, in one loop per lane (`run.rs`): the
//! pool reports to that loop on one channel when a job starts on a worker, goes back to the
//! pool's queue unstarted, or ends; the loop notes starts and ends and records them in its
//! next store call, which also claims the next jobs. While attempts are short it claims a
//! few jobs ahead of the free workers (`ahead.rs`, paced by the pool's mean run time), so a
//! worker that finishes starts its next job at once and one transaction records a batch of
//! ended attempts and claims the next batch. Jobs claimed ahead are `running` in the store
//! (with no `started_at`) before a worker takes them; one that waits longer than
//! `STALE_AFTER`, in the loop or in the pool's queue (the jobs got long), goes back to the
//! queue with its attempt uncounted. What an attempt runs and records is `attempt.rs`.
//! `docs/ARCHITECTURE.md` has the figures behind the constants.

mod ahead;
mod attempt;
mod run;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::job::{Completed, DirGrant, JobResult, Outcome};
use crate::library::Library;
use crate::metrics::Metrics;
use crate::mounts::Mounts;
use crate::pool::{Pool, Report, Reservation, Waiting};
use crate::spawns::Spawner;
use crate::store::{Attempt, JobId, JobRecord, Store};

/// With nothing due and no news from the store, look again this often anyway.
const IDLE_RECHECK: Duration = Duration::from_secs(1);
/// How long before a rate limit's next token a dispatcher waiting on it claims again: about
/// a claim's round trips, so the claim reads the bucket as the token comes due (one that
/// comes too early takes nothing and says when again).
const TOKEN_EARLY: Duration = Duration::from_millis(2);
/// A rate limit's token due within this is claimed without first reading when the lane's
/// next delayed job is due (see `dry_until`).
const TOKEN_SOON: Duration = Duration::from_millis(50);

/// The end of an attempt that never reached a worker.
fn unstarted(job: &JobRecord, outcome: Outcome) -> Report {
    let now = SystemTime::now();
    let result = JobResult::without_output(job.id.to_string(), outcome);
    Report::Ended(Completed { result, worker_pid: 0, started_at: now, finished_at: now })
}

/// Hands the queued jobs of one lane to the free workers of that lane's pool.
pub struct Dispatcher {
    /// The lane whose jobs it claims.
    lane: String,
    store: Store,
    pool: Arc<Pool>,
    library: Arc<Library>,
    metrics: Arc<Metrics>,
    /// The directories jobs may be granted.
    mounts: Arc<Mounts>,
    output_bytes: u64,
    paused: watch::Sender<bool>,
    /// The jobs running attempts spawned, taken when they end.
    spawner: Arc<Spawner>,
    /// Jobs claimed and not yet recorded: the attempt, and the token that cancels it.
    running: Mutex<HashMap<JobId, (Attempt, CancellationToken)>>,
    /// Set when a drain ran out of time: stopped jobs go back to the queue.
    releasing: AtomicBool,
    /// Whether the run loop has ended, every attempt it held recorded or given back.
    done: watch::Sender<bool>,
    /// Turns given to jobs whose module was not ready in memory when their turn came (see
    /// [`Dispatcher::start`]), and how many of them have been handed over.
    turns: Mutex<u64>,
    turns_done: watch::Sender<u64>,
}

/// What a lane's attempts are given besides their jobs.
pub struct Given {
    /// The service's declared directories.
    pub mounts: Arc<Mounts>,
    /// The output cap of an attempt, in bytes.
    pub output_bytes: u64,
    /// Where the jobs its attempts spawn are kept until they end.
    pub spawner: Arc<Spawner>,
}

impl Dispatcher {
    /// A dispatcher of `lane`'s jobs over the given parts; start it with [`Dispatcher::run`].
    pub fn new(
        lane: String,
        store: Store,
        pool: Arc<Pool>,
        library: Arc<Library>,
        metrics: Arc<Metrics>,
        given: Given,
    ) -> Arc<Self> {
        let Given { mounts, output_bytes, spawner } = given;
        Arc::new(Dispatcher {
            lane,
            store,
            pool,
            library,
            metrics,
            mounts,
            output_bytes,
            spawner,
            paused: watch::Sender::new(false),
            running: Mutex::new(HashMap::new()),
            releasing: AtomicBool::new(false),
            done: watch::Sender::new(false),
            turns: Mutex::new(0),
            turns_done: watch::Sender::new(0),
        })
    }

    /// Stops or restarts handing out queued jobs; running ones carry on.
    pub fn set_paused(&self, paused: bool) {
        self.paused.send_replace(paused);
    }

    /// Whether handing out is paused.
    pub fn paused(&self) -> bool {
        *self.paused.borrow()
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, (Attempt, CancellationToken)>> {
        self.running.lock().expect("dispatcher lock")
    }

    /// Stops a claimed job's worker, or keeps a job claimed ahead from starting (the store
    /// has already marked it cancelled).
    pub fn cancel(&self, id: JobId) {
        if let Some((_, token)) = self.running().get(&id) {
            token.cancel();
        }
    }

    /// The attempts this host holds: claimed ahead, or running.
    pub fn holding(&self) -> Vec<Attempt> {
        self.running().values().map(|(attempt, _)| *attempt).collect()
    }

    /// Stops every attempt this host holds: the cluster declared the host lost and gave them
    /// to others, so whatever they would still write is refused by the store anyway.
    pub fn abandon(&self) {
        let running = self.running();
        tracing::warn!("stopping the {} job(s) this host held", running.len());
        running.values().for_each(|(_, token)| token.cancel());
    }

    /// Claims and starts jobs until `stop` is cancelled, then lets the attempts it holds end
    /// (see [`Dispatcher::drain`]) and returns once each is recorded or given back.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        run::Loop::new(self.clone()).run(stop).await;
        self.done.send_replace(true);
    }

    /// Stops claiming, lets running jobs finish for up to `grace`, then stops the rest and
    /// gives them back to the queue. Returns once the run loop has ended.
    pub async fn drain(&self, stop: &CancellationToken, grace: Duration) {
        stop.cancel();
        let mut done = self.done.subscribe();
        if tokio::time::timeout(grace, done.wait_for(|done| *done)).await.is_err() {
            self.releasing.store(true, Ordering::SeqCst);
            let tokens: Vec<_> = self.running().values().map(|(_, token)| token.clone()).collect();
            tracing::warn!(
                "{} job(s) still running after {grace:?}; stopping them and leaving them queued",
                tokens.len()
            );
            tokens.iter().for_each(CancellationToken::cancel);
            let _ = done.wait_for(|done| *done).await;
        }
    }

    /// Whether a drain ran out of time (stopped attempts then go back to the queue).
    fn releasing(&self) -> bool {
        self.releasing.load(Ordering::SeqCst)
    }

    /// Hands the job to the pool now, in claim order, when its module is ready in memory
    /// (nearly always) and no job before it waits for its own, and returns it as it waits in
    /// the pool's queue. Else gives it a turn, and a task hands it over once its module is
    /// ready and the jobs before it are handed over (reporting it as waiting, or its failure
    /// to load as its end, on `reports`).
    fn start(
        self: &Arc<Self>,
        job: &JobRecord,
        reservation: Reservation,
        token: CancellationToken,
        reports: &mpsc::UnboundedSender<Report>,
    ) -> Option<Waiting> {
        let dirs = match self.mounts.grants(&job.mounts) {
            Ok(dirs) => dirs,
            Err(why) => {
                drop(reservation);
                let _ = reports.send(unstarted(job, Outcome::Unrunnable(why)));
                return None;
            }
        };
        let mut turns = self.turns.lock().expect("dispatcher lock");
        if *turns == *self.turns_done.borrow()
            && let Some(module) = self.library.module_ref_now(&job.module_hash, job.fuel)
        {
            let spec = attempt::spec(job, module, dirs, self.output_bytes);
            return Some(reservation.hand_to(spec, token, reports));
        }
        let turn = *turns;
        *turns += 1;
        let later =
            self.clone().hand_later(job.clone(), dirs, reservation, turn, token, reports.clone());
        tokio::spawn(later);
        None
    }

    /// [`Dispatcher::start`] for a job whose module had to be loaded first.
    async fn hand_later(
        self: Arc<Self>,
        job: JobRecord,
        dirs: Vec<DirGrant>,
        reservation: Reservation,
        turn: u64,
        token: CancellationToken,
        reports: mpsc::UnboundedSender<Report>,
    ) {
        let module = self.library.module_ref(&job.module_hash, job.fuel).await;
        let _ = self.turns_done.subscribe().wait_for(|done| *done == turn).await;
        let report = match module {
            Ok(module) => {
                let spec = attempt::spec(&job, module, dirs, self.output_bytes);
                Report::Waiting(reservation.hand_to(spec, token, &reports))
            }
            Err(error) => {
                drop(reservation);
                unstarted(&job, Outcome::LoadFailed(error.to_string()))
            }
        };
        let _ = reports.send(report);
        self.turns_done.send_modify(|done| *done += 1);
    }

    /// When to claim again after a claim came back short: once another job is queued (in any
    /// lane: a wake-up for another lane's job costs one empty claim) or a job of a capped
    /// module ends, the lane's earliest delayed job is due, a rate limit a job waits on has a
    /// token again (`wake_at`), or a while has passed.
    async fn dry_until(&self, seen: u64, wake_at: Option<SystemTime>) -> ahead::Dry {
        // A little early: the claim's own round trips come before it reads the bucket.
        let token = wake_at.map(|at| {
            let at = at.checked_sub(TOKEN_EARLY).unwrap_or(at);
            at.duration_since(SystemTime::now()).unwrap_or_default()
        });
        // A token due soon wakes the lane before any delayed job could matter; skipping the
        // read keeps the loop (and the jobs it holds for their slots) off the store meanwhile.
        let due = match token {
            Some(wait) if wait <= TOKEN_SOON => IDLE_RECHECK,
            _ => match self.store.next_due(&self.lane).await {
                Ok(Some(at)) => at.duration_since(SystemTime::now()).unwrap_or_default(),
                _ => IDLE_RECHECK,
            },
        };
        let wait = token.map_or(due, |token| token.min(due));
        ahead::Dry { seen, until: Instant::now() + wait.min(IDLE_RECHECK) }
    }

    /// Gives claimed jobs that never started back to the queue, their attempt uncounted, and
    /// forgets them. If the store fails, what it held stays claimed until the next start's
    /// recovery (SQLite) or this host's leave (PostgreSQL) gives it back.
    async fn release(&self, jobs: &[JobRecord]) {
        if self.try_release(jobs).await.is_err() {
            let mut running = self.running();
            jobs.iter().for_each(|job| drop(running.remove(&job.id)));
        }
    }

    /// [`Dispatcher::release`], or an error (the jobs still held) if the store failed.
    async fn try_release(&self, jobs: &[JobRecord]) -> Result<(), ()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let attempts: Vec<Attempt> = jobs.iter().map(JobRecord::attempt).collect();
        if let Err(e) = self.store.release(attempts).await {
            tracing::warn!("giving {} claimed job(s) back to the queue failed: {e}", jobs.len());
            return Err(());
        }
        let mut running = self.running();
        jobs.iter().for_each(|job| drop(running.remove(&job.id)));
        Ok(())
    }
}
