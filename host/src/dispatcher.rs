//! The dispatcher: claims queued jobs from the store when workers are free, runs them on the
//! pool, and records each attempt's end — a final state, or a retry after an exponential
//! backoff with jitter while attempts remain. It also carries out cancel, pause and drain.
//!
//! While attempts are short it claims a few jobs ahead of the free workers, so a worker that
//! finishes starts its next job at once instead of waiting for a store transaction, and one
//! transaction records a batch of ended attempts and claims the next batch. Jobs claimed
//! ahead are `running` in the store (with no `started_at`) before a worker takes them; one
//! that waits longer than [`STALE_AFTER`] (the jobs got long) goes back to the queue with its
//! attempt uncounted. `docs/ARCHITECTURE.md` has the figures behind the constants.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::mem::take;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::job::{Completed, JobResult, JobSpec, Limits, Outcome};
use crate::library::Library;
use crate::metrics::Metrics;
use crate::pool::{AHEAD_TIME, Handed, Pool, Reservation, SHORT_JOB, next_mean};
use crate::store::{Attempt, Claimed, Finished, JobId, JobRecord, Store, StoreError};
use crate::wire::JobState;

/// First retry delay; doubles per attempt up to [`RETRY_BACKOFF_MAX`].
const RETRY_BACKOFF: Duration = Duration::from_millis(500);
const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(300);
/// With nothing due and no news from the store, look again this often anyway.
const IDLE_RECHECK: Duration = Duration::from_secs(1);
/// Claims ahead only while attempts take less than the pool's [`SHORT_JOB`] on average, about
/// [`AHEAD_TIME`] of work per worker, but at most this many jobs.
const AHEAD_MAX_PER_WORKER: usize = 64;
/// While every worker is busy, starts and ended attempts are recorded with the next claim,
/// or once this many wait...
const RECORD_BATCH: usize = 64;
/// ...or once the first of them has waited this long.
const RECORD_DELAY: Duration = Duration::from_millis(1);
/// A job claimed ahead that no worker has taken after this long goes back to the queue.
const STALE_AFTER: Duration = Duration::from_millis(50);
/// After a failed store call, wait this long before the next (doubling up to
/// [`STORE_RETRY_MAX`]); the notes it carried are kept and go with the next call.
const STORE_RETRY: Duration = Duration::from_millis(50);
const STORE_RETRY_MAX: Duration = Duration::from_secs(2);

/// What woke the run loop.
enum Wake {
    Stop,
    Changed,
    Ended(Finished),
    Claimed(Box<Call>),
    Free(Reservation),
    Work,
    Stale,
    Returned(Box<Ready>),
}

/// How a job reaches the pool: handed over already, or by its task once its module is
/// ready, in its turn: jobs reach the pool in the order they were claimed.
enum Start {
    Handed(Handed),
    Later { reservation: Reservation, turn: u64 },
}

/// A store call in flight.
type Claiming = Pin<Box<dyn Future<Output = Box<Call>> + Send>>;

/// A store call that came back: the number of jobs asked for, the notes it recorded (given
/// back to be recorded again if it failed), and the answer.
struct Call {
    asked: usize,
    notes: (Vec<(Attempt, SystemTime)>, Vec<Finished>),
    answer: Result<Claimed, StoreError>,
}

/// A job claimed and not yet handed to a worker.
struct Ready {
    job: JobRecord,
    token: CancellationToken,
    since: Instant,
}

/// Why the run loop stopped claiming: the last claim came back short.
#[derive(Clone, Copy)]
struct Dry {
    /// The store's queued count the claim saw: claim again once it moves past this...
    seen: u64,
    /// ...or at this time (the next delayed job falls due, or a recheck).
    until: Instant,
}

/// What the next transaction records: jobs that reached a worker and attempts that ended,
/// and since when the oldest of them has waited.
#[derive(Default)]
struct Notes {
    started: Vec<(Attempt, SystemTime)>,
    ended: Vec<Finished>,
    since: Option<Instant>,
}

impl Notes {
    fn started(&mut self, attempt: Attempt) {
        self.since.get_or_insert_with(Instant::now);
        self.started.push((attempt, SystemTime::now()));
    }

    fn ended(&mut self, end: Finished) {
        self.since.get_or_insert_with(Instant::now);
        self.ended.push(end);
    }

    fn len(&self) -> usize {
        self.started.len() + self.ended.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// When the notes are due to be recorded even in the middle of a batch; `None` if there
    /// are none.
    fn due(&self) -> Option<Instant> {
        self.since.map(|since| since + RECORD_DELAY)
    }

    fn take(&mut self) -> (Vec<(Attempt, SystemTime)>, Vec<Finished>) {
        self.since = None;
        (take(&mut self.started), take(&mut self.ended))
    }

    /// Takes back the notes of a store call that failed, ahead of any noted since.
    fn restore(&mut self, (started, ended): (Vec<(Attempt, SystemTime)>, Vec<Finished>)) {
        if started.is_empty() && ended.is_empty() {
            return;
        }
        self.since = Some(Instant::now());
        self.started.splice(0..0, started);
        self.ended.splice(0..0, ended);
    }
}

/// How long attempts take lately, which decides how many jobs to claim ahead.
#[derive(Default)]
struct Pace {
    mean: Option<Duration>,
}

impl Pace {
    fn observe(&mut self, took: Duration) {
        self.mean = Some(next_mean(self.mean, took));
    }

    /// Jobs to claim beyond the free workers: none until attempts are known to be short.
    fn ahead(&self, workers: usize) -> usize {
        match self.mean {
            Some(mean) if mean < SHORT_JOB => {
                let per_worker = AHEAD_TIME.as_nanos() / mean.as_nanos().max(1);
                workers * (per_worker as usize).clamp(1, AHEAD_MAX_PER_WORKER)
            }
            _ => 0,
        }
    }
}

/// Hands the queued jobs of one lane to the free workers of that lane's pool.
pub struct Dispatcher {
    /// The lane whose jobs it claims.
    lane: String,
    store: Store,
    pool: Arc<Pool>,
    library: Arc<Library>,
    metrics: Arc<Metrics>,
    output_bytes: u64,
    paused: watch::Sender<bool>,
    /// Jobs claimed and not yet recorded: the attempt, and the token that cancels it.
    running: Mutex<HashMap<JobId, (Attempt, CancellationToken)>>,
    /// Set when a drain ran out of time: stopped jobs go back to the queue.
    releasing: AtomicBool,
    /// Where ended attempts go while the run loop runs.
    ends: Mutex<Option<mpsc::UnboundedSender<Finished>>>,
    /// Where jobs no worker took go back to while the run loop runs (see
    /// [`Dispatcher::give_back`]).
    returns: Mutex<Option<mpsc::UnboundedSender<Ready>>>,
    /// Turns given to jobs handed over by their own task (see [`Start`]), and how many of
    /// them have been handed over.
    turns: Mutex<u64>,
    turns_done: watch::Sender<u64>,
    tasks: TaskTracker,
}

impl Dispatcher {
    /// A dispatcher of `lane`'s jobs over the given parts; start it with [`Dispatcher::run`].
    pub fn new(
        lane: String,
        store: Store,
        pool: Arc<Pool>,
        library: Arc<Library>,
        metrics: Arc<Metrics>,
        output_bytes: u64,
    ) -> Arc<Self> {
        Arc::new(Dispatcher {
            lane,
            store,
            pool,
            library,
            metrics,
            output_bytes,
            paused: watch::Sender::new(false),
            running: Mutex::new(HashMap::new()),
            releasing: AtomicBool::new(false),
            ends: Mutex::new(None),
            returns: Mutex::new(None),
            turns: Mutex::new(0),
            turns_done: watch::Sender::new(0),
            tasks: TaskTracker::new(),
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

    /// Stops a claimed job's worker, or keeps a job claimed ahead from starting (the store
    /// has already marked it cancelled).
    pub fn cancel(&self, id: JobId) {
        if let Some((_, token)) = self.running.lock().expect("dispatcher lock").get(&id) {
            token.cancel();
        }
    }

    /// The attempts this host holds: claimed ahead, or running.
    pub fn holding(&self) -> Vec<Attempt> {
        self.running
            .lock()
            .expect("dispatcher lock")
            .values()
            .map(|(attempt, _)| *attempt)
            .collect()
    }

    /// Stops every attempt this host holds: the cluster declared the host lost and gave them
    /// to others, so whatever they would still write is refused by the store anyway.
    pub fn abandon(&self) {
        let running = self.running.lock().expect("dispatcher lock");
        tracing::warn!("stopping the {} job(s) this host held", running.len());
        running.values().for_each(|(_, token)| token.cancel());
    }

    /// Claims and starts jobs until `stop` is cancelled. Attempts that end come back here
    /// (see [`Dispatcher::record`]), so recording them and claiming the next jobs is one
    /// transaction; one such transaction is in flight at a time, and the attempts that end
    /// meanwhile go into the next.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let (ends, mut ended) = mpsc::unbounded_channel();
        *self.ends.lock().expect("dispatcher lock") = Some(ends);
        let (returns, mut returned) = mpsc::unbounded_channel();
        *self.returns.lock().expect("dispatcher lock") = Some(returns);
        let mut queued = self.store.queued();
        let mut paused = self.paused.subscribe();
        let mut ready: VecDeque<Ready> = VecDeque::new();
        let mut notes = Notes::default();
        let mut claiming: Option<Claiming> = None;
        let mut dry: Option<Dry> = None;
        let mut pace = Pace::default();
        let mut failing = Failing::default();
        loop {
            self.hand_out(&mut ready, None, &mut notes);
            if claiming.is_none() && failing.until.is_none_or(|until| until <= Instant::now()) {
                let paused = *paused.borrow_and_update();
                let want = if paused || dry.is_some() { 0 } else { self.wanted(&ready, &pace) };
                // Notes wait to be recorded in a batch only while every worker is busy.
                let record = notes.due().is_some_and(|due| {
                    self.pool.idle_workers() > 0
                        || notes.len() >= RECORD_BATCH
                        || due <= Instant::now()
                });
                if want > 0 || record {
                    claiming = Some(self.claim(notes.take(), want));
                }
            }
            let stale_at = ready.front().map(|first| first.since + STALE_AFTER);
            let record_at = match claiming {
                None => notes.due().map(|due| failing.until.map_or(due, |until| until.max(due))),
                Some(_) => None,
            };
            // Biased: once stopped, claim nothing more even if a worker is free too.
            let wake = tokio::select! {
                biased;
                () = stop.cancelled() => Wake::Stop,
                _ = paused.changed() => Wake::Changed,
                call = async { claiming.as_mut().expect("in flight").await },
                    if claiming.is_some() => Wake::Claimed(call),
                Some(end) = ended.recv() => Wake::Ended(end),
                Some(back) = returned.recv() => Wake::Returned(Box::new(back)),
                reservation = self.pool.reserve(), if !ready.is_empty() => Wake::Free(reservation),
                () = sleep_until(stale_at) => Wake::Stale,
                () = sleep_until(record_at) => Wake::Changed,
                () = more_work(&mut queued, dry) => Wake::Work,
            };
            match wake {
                Wake::Stop => break,
                Wake::Changed => {}
                Wake::Claimed(call) => {
                    claiming = None;
                    let Call { asked, notes: recorded, answer } = *call;
                    if answer.is_err() {
                        notes.restore(recorded);
                    }
                    failing.after(&answer);
                    let seen = self.take_claimed(answer, &mut ready);
                    self.hand_out(&mut ready, None, &mut notes);
                    dry = match seen {
                        Some((got, _)) if got >= asked || asked == 0 => dry,
                        Some((_, seen)) => Some(self.dry_until(seen).await),
                        // The store failed (logged): claim again after the backoff.
                        None => Some(Dry {
                            seen: u64::MAX,
                            until: failing.until.unwrap_or_else(Instant::now),
                        }),
                    };
                }
                Wake::Ended(end) => {
                    for end in
                        std::iter::once(end).chain(std::iter::from_fn(|| ended.try_recv().ok()))
                    {
                        pace.observe(took(&end));
                        notes.ended(end);
                    }
                }
                Wake::Free(reservation) => self.hand_out(&mut ready, Some(reservation), &mut notes),
                // Claimed before those waiting: first in line, and stale in its turn.
                Wake::Returned(back) => ready.push_front(*back),
                Wake::Work => dry = None,
                Wake::Stale => {
                    self.release_stale(&mut ready).await;
                    pace = Pace::default();
                }
            }
        }
        // From now on attempts record themselves; record those that came back already, and
        // give the jobs claimed ahead back to the queue.
        self.ends.lock().expect("dispatcher lock").take();
        self.returns.lock().expect("dispatcher lock").take();
        while let Ok(back) = returned.try_recv() {
            ready.push_back(back);
        }
        if let Some(claiming) = claiming {
            let Call { notes: recorded, answer, .. } = *claiming.await;
            if answer.is_err() {
                notes.restore(recorded);
            }
            self.take_claimed(answer, &mut ready);
        }
        while let Ok(end) = ended.try_recv() {
            notes.ended(end);
        }
        if !notes.is_empty() {
            let (started, ended) = notes.take();
            self.record_until_stored(started, ended).await;
        }
        self.release(ready.drain(..).collect()).await;
    }

    /// How many jobs to claim: one per free worker plus the jobs to hold ahead, less those
    /// held already. Claims ahead wait until half the ahead is used, so they come in batches.
    fn wanted(&self, ready: &VecDeque<Ready>, pace: &Pace) -> usize {
        let ahead = pace.ahead(self.pool.size());
        let want = (self.pool.idle() + ahead).saturating_sub(ready.len());
        if ready.is_empty() || want > ahead / 2 { want } else { 0 }
    }

    /// Records the notes and claims up to `limit` jobs, in the background.
    fn claim(&self, notes: (Vec<(Attempt, SystemTime)>, Vec<Finished>), limit: usize) -> Claiming {
        let store = self.store.clone();
        let lane = self.lane.clone();
        Box::pin(async move {
            let (started, finished) = notes.clone();
            let answer = store.finish_and_claim(started, finished, &lane, limit).await;
            Box::new(Call { asked: limit, notes, answer })
        })
    }

    /// Adds claimed jobs to `ready`; returns how many there were and the store's queued
    /// count the claim saw, or `None` if the store failed.
    fn take_claimed(
        &self,
        claimed: crate::store::Result<Claimed>,
        ready: &mut VecDeque<Ready>,
    ) -> Option<(usize, u64)> {
        let Claimed { jobs, seen } = match claimed {
            Ok(claimed) => claimed,
            // Logged by `Failing::after`.
            Err(_) => return None,
        };
        let got = jobs.len();
        let since = Instant::now();
        let mut running = self.running.lock().expect("dispatcher lock");
        for job in jobs {
            let token = CancellationToken::new();
            running.insert(job.id, (job.attempt(), token.clone()));
            ready.push_back(Ready { job, token, since });
        }
        Some((got, seen))
    }

    /// Starts ready jobs on free workers: the one just reserved, then any free right now, and
    /// notes when each started. Jobs cancelled while they waited are dropped (the store has
    /// them cancelled).
    fn hand_out(
        self: &Arc<Self>,
        ready: &mut VecDeque<Ready>,
        mut reserved: Option<Reservation>,
        notes: &mut Notes,
    ) {
        while let Some(first) = ready.front() {
            if first.token.is_cancelled() {
                let dropped = ready.pop_front().expect("a first job");
                self.running.lock().expect("dispatcher lock").remove(&dropped.job.id);
                continue;
            }
            let Some(reservation) = reserved.take().or_else(|| self.pool.try_reserve()) else {
                break;
            };
            let Ready { job, token, .. } = ready.pop_front().expect("a first job");
            notes.started(job.attempt());
            let start = self.start(&job, reservation, token.clone());
            self.tasks.spawn(self.clone().run_job(job, start, token));
        }
    }

    /// Hands the job to the pool here, in claim order, when its module is ready in memory
    /// (nearly always) and no job before it waits for its own; else gives it a turn, and its
    /// task hands it over once its module is ready and the jobs before it are handed over.
    fn start(&self, job: &JobRecord, reservation: Reservation, token: CancellationToken) -> Start {
        let mut turns = self.turns.lock().expect("dispatcher lock");
        if *turns == *self.turns_done.borrow()
            && let Some(spec) = self.spec_now(job)
        {
            return Start::Handed(reservation.hand_over(spec, token));
        }
        let turn = *turns;
        *turns += 1;
        Start::Later { reservation, turn }
    }

    /// When to claim again after a claim came back short: once another job is queued (in any
    /// lane: a wake-up for another lane's job costs one empty claim) or a job of a capped
    /// module ends, the lane's earliest delayed job is due, or a while has passed.
    async fn dry_until(&self, seen: u64) -> Dry {
        let wait = match self.store.next_due(&self.lane).await {
            Ok(Some(at)) => at.duration_since(SystemTime::now()).unwrap_or_default(),
            _ => IDLE_RECHECK,
        };
        Dry { seen, until: Instant::now() + wait.min(IDLE_RECHECK) }
    }

    /// Gives the jobs claimed ahead that waited too long back to the queue.
    async fn release_stale(&self, ready: &mut VecDeque<Ready>) {
        let now = Instant::now();
        let stale = ready.iter().take_while(|job| job.since + STALE_AFTER <= now).count();
        tracing::debug!("{stale} job(s) claimed ahead waited {STALE_AFTER:?}; queuing them again");
        if let Err(kept) = self.try_release(ready.drain(..stale).collect()).await {
            // Still ours in the store: keep them for the next free worker rather than lose
            // them (a full disk, a database restarting), and wait a while before trying again.
            for mut job in kept.into_iter().rev() {
                job.since = now;
                ready.push_front(job);
            }
        }
    }

    /// Gives claimed jobs that never started back to the queue, their attempt uncounted. If
    /// the store fails, what it held stays claimed until the next start's recovery (SQLite)
    /// or this host's leave (PostgreSQL) gives it back.
    async fn release(&self, jobs: Vec<Ready>) {
        if let Err(kept) = self.try_release(jobs).await {
            let mut running = self.running.lock().expect("dispatcher lock");
            kept.iter().for_each(|ready| drop(running.remove(&ready.job.id)));
        }
    }

    /// [`Dispatcher::release`], or the jobs back (still held) if the store failed.
    async fn try_release(&self, jobs: Vec<Ready>) -> Result<(), Vec<Ready>> {
        if jobs.is_empty() {
            return Ok(());
        }
        let attempts: Vec<Attempt> = jobs.iter().map(|ready| ready.job.attempt()).collect();
        if let Err(e) = self.store.release(attempts).await {
            tracing::warn!("giving {} claimed job(s) back to the queue failed: {e}", jobs.len());
            return Err(jobs);
        }
        let mut running = self.running.lock().expect("dispatcher lock");
        jobs.iter().for_each(|ready| drop(running.remove(&ready.job.id)));
        Ok(())
    }

    /// Records an ended attempt: through the run loop while it runs (batched with the next
    /// claim), directly once it has stopped.
    async fn record(&self, end: Finished) {
        let end = {
            let ends = self.ends.lock().expect("dispatcher lock");
            match ends.as_ref() {
                Some(sender) => match sender.send(end) {
                    Ok(()) => return,
                    Err(mpsc::error::SendError(end)) => end,
                },
                None => end,
            }
        };
        self.record_until_stored(Vec::new(), vec![end]).await;
    }

    /// Records starts and ended attempts outside the run loop, retrying with backoff while
    /// the store fails (a full disk, a database restarting), for up to [`RECORD_PATIENCE`]:
    /// an attempt that ended must not be forgotten while there is a chance to store it.
    async fn record_until_stored(&self, started: Vec<(Attempt, SystemTime)>, ended: Vec<Finished>) {
        let deadline = Instant::now() + RECORD_PATIENCE;
        let mut failing = Failing::default();
        loop {
            let answer =
                self.store.finish_and_claim(started.clone(), ended.clone(), &self.lane, 0).await;
            let Err(e) = &answer else { return };
            failing.after(&answer);
            let until = failing.until.unwrap_or_else(Instant::now);
            if until >= deadline {
                tracing::error!(
                    "recording {} ended attempt(s) failed; giving up: {e}",
                    ended.len()
                );
                return;
            }
            tokio::time::sleep_until(until).await;
        }
    }

    async fn run_job(self: Arc<Self>, job: JobRecord, start: Start, token: CancellationToken) {
        let module = &job.module_hash[..12.min(job.module_hash.len())];
        tracing::info!(
            job = job.id,
            module,
            attempt = job.attempts,
            state = "running",
            "job started"
        );
        let handed = match start {
            Start::Handed(handed) => Ok(handed),
            Start::Later { reservation, turn } => {
                let spec = self.spec(&job).await;
                let _ = self.turns_done.subscribe().wait_for(|done| *done == turn).await;
                let handed = spec.map(|spec| reservation.hand_over(spec, token.clone()));
                self.turns_done.send_modify(|done| *done += 1);
                handed
            }
        };
        let completed = match handed {
            Ok(handed) => match handed.unless_waiting(STALE_AFTER).await {
                Some(completed) => completed,
                None => return self.give_back(job, token).await,
            },
            Err(error) => {
                let now = SystemTime::now();
                let result =
                    JobResult::without_output(job.id.to_string(), Outcome::LoadFailed(error));
                Completed { result, worker_pid: 0, started_at: now, finished_at: now }
            }
        };
        self.running.lock().expect("dispatcher lock").remove(&job.id);
        let stopped = completed.result.outcome == Outcome::Cancelled;
        if stopped && self.releasing.load(Ordering::SeqCst) {
            if let Err(e) = self.store.release(vec![job.attempt()]).await {
                tracing::error!(job = job.id, "giving the job back to the queue failed: {e}");
            }
        } else {
            self.metrics.job_finished(&completed);
            let end = self.finished(&job, completed);
            log_end(&job, &end);
            self.record(end).await;
        }
    }

    /// Takes back a job that no worker took (the pool's workers turned out busy with long
    /// jobs): it joins the run loop's ready jobs, first in line, to be handed out again or
    /// given back to the queue when it is stale (kept while the store fails, never lost).
    /// Once the loop has stopped, it goes back to the queue at once.
    async fn give_back(&self, job: JobRecord, token: CancellationToken) {
        tracing::debug!(job = job.id, "no worker took the job within {STALE_AFTER:?}");
        let back = Ready { job, token, since: Instant::now() };
        let back = match self.returns.lock().expect("dispatcher lock").as_ref() {
            Some(returns) => match returns.send(back) {
                Ok(()) => return,
                Err(mpsc::error::SendError(back)) => back,
            },
            None => back,
        };
        self.release(vec![back]).await;
    }

    async fn spec(&self, job: &JobRecord) -> Result<JobSpec, String> {
        let module =
            self.library.module_ref(&job.module_hash, job.fuel).await.map_err(|e| e.to_string())?;
        Ok(self.spec_with(job, module))
    }

    /// The job's spec if its module is ready in memory.
    fn spec_now(&self, job: &JobRecord) -> Option<JobSpec> {
        let module = self.library.module_ref_now(&job.module_hash, job.fuel)?;
        Some(self.spec_with(job, module))
    }

    fn spec_with(&self, job: &JobRecord, module: crate::job::ModuleRef) -> JobSpec {
        let mut args = Vec::with_capacity(job.args.len() + 1);
        args.push(job.argv0.clone().unwrap_or_else(|| {
            format!("{}.wasm", &job.module_hash[..12.min(job.module_hash.len())])
        }));
        args.extend(job.args.iter().cloned());
        JobSpec {
            id: job.id.to_string(),
            module,
            args,
            env: job.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            stdin: job.stdin.clone(),
            dirs: Vec::new(),
            limits: Limits {
                timeout: Some(Duration::from_millis(job.timeout_ms)),
                memory_bytes: job.memory_mb << 20,
                fuel: job.fuel,
                output_bytes: self.output_bytes,
            },
            attempt: job.attempts,
            job_env: job.job_env,
            call: job.call.as_ref().map(|function| crate::job::Call {
                function: function.clone(),
                params: job.params.clone().unwrap_or_else(|| "[]".into()),
            }),
        }
    }

    /// What to record for an attempt: its end, or a retry while attempts remain.
    fn finished(&self, job: &JobRecord, completed: Completed) -> Finished {
        let Completed { result, worker_pid, started_at, finished_at } = completed;
        let outcome = &result.outcome;
        let retry = !outcome.succeeded()
            && *outcome != Outcome::Cancelled
            && job.attempts < job.max_attempts;
        let state = match outcome {
            Outcome::Exited(0) | Outcome::Returned => JobState::Succeeded,
            Outcome::TimedOut(_) => JobState::TimedOut,
            Outcome::Cancelled => JobState::Cancelled,
            _ => JobState::Failed,
        };
        Finished {
            attempt: job.attempt(),
            retry_at: retry.then(|| SystemTime::now() + backoff(job.attempts)),
            state,
            worker_pid: (worker_pid != 0).then_some(worker_pid),
            started_at,
            finished_at,
            exit_code: match outcome {
                Outcome::Exited(code) => Some(*code),
                _ => None,
            },
            error: (!outcome.succeeded()).then(|| outcome.describe()),
            stdout: result.stdout,
            stderr: result.stderr,
            stdout_truncated: result.stdout_truncated,
            stderr_truncated: result.stderr_truncated,
            fuel_used: result.fuel_used,
            peak_memory_bytes: result.peak_memory_bytes,
            result: result.returned,
        }
    }

    /// Stops claiming, lets running jobs finish for up to `grace`, then stops the rest and
    /// gives them back to the queue.
    pub async fn drain(&self, stop: &CancellationToken, grace: Duration) {
        stop.cancel();
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait()).await.is_err() {
            self.releasing.store(true, Ordering::SeqCst);
            let tokens: Vec<_> = self
                .running
                .lock()
                .expect("dispatcher lock")
                .values()
                .map(|(_, token)| token.clone())
                .collect();
            tracing::warn!(
                "{} job(s) still running after {grace:?}; stopping them and leaving them queued",
                tokens.len()
            );
            tokens.iter().for_each(CancellationToken::cancel);
            self.tasks.wait().await;
        }
    }
}

/// How long an ended attempt waits for a failing store, once the run loop has stopped.
const RECORD_PATIENCE: Duration = Duration::from_secs(60);

/// Backoff between store calls while they fail.
#[derive(Default)]
struct Failing {
    wait: Option<Duration>,
    /// No store call before this.
    until: Option<Instant>,
}

impl Failing {
    /// Notes how a store call went: a failure is logged and pushes the next call back.
    fn after<T>(&mut self, answer: &Result<T, StoreError>) {
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
}

/// Exponential backoff with jitter: half to all of `RETRY_BACKOFF × 2^(attempt-1)`, capped.
fn backoff(attempt: u32) -> Duration {
    let exponential = RETRY_BACKOFF.saturating_mul(1 << attempt.saturating_sub(1).min(20));
    let capped = exponential.min(RETRY_BACKOFF_MAX);
    capped.mul_f64(rand::rng().random_range(0.5..=1.0))
}

/// How long an attempt ran.
fn took(end: &Finished) -> Duration {
    end.finished_at.duration_since(end.started_at).unwrap_or_default()
}

/// Waits until `at`, or forever without it.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Waits, while `dry`, for more claimable work; forever when not dry.
async fn more_work(queued: &mut watch::Receiver<u64>, dry: Option<Dry>) {
    let Some(Dry { seen, until }) = dry else { return std::future::pending().await };
    tokio::select! {
        _ = queued.wait_for(|&count| count > seen) => {}
        () = tokio::time::sleep_until(until) => {}
    }
}

/// One line per ended attempt, as an operator reads a job's history: its state (`queued`
/// again when it will be retried), how long it ran, and how it ended.
fn log_end(job: &JobRecord, end: &Finished) {
    let module = &job.module_hash[..12.min(job.module_hash.len())];
    let state = if end.retry_at.is_some() { "queued" } else { end.state.as_str() };
    let ran = end.finished_at.duration_since(end.started_at).unwrap_or_default();
    let ms = ran.as_micros() as f64 / 1000.0;
    tracing::info!(
        job = job.id,
        module,
        attempt = job.attempts,
        state,
        ms,
        exit_code = end.exit_code,
        error = end.error.as_deref(),
        "job ended"
    );
}
