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
use crate::pool::{Pool, Reservation};
use crate::store::{Claimed, Finished, JobId, JobRecord, Store};
use crate::wire::JobState;

/// First retry delay; doubles per attempt up to [`RETRY_BACKOFF_MAX`].
const RETRY_BACKOFF: Duration = Duration::from_millis(500);
const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(300);
/// With nothing due and no news from the store, look again this often anyway.
const IDLE_RECHECK: Duration = Duration::from_secs(1);
/// Claim ahead only while attempts take less than this on average.
const SHORT_JOB: Duration = Duration::from_millis(5);
/// Claim about this much work ahead for each worker...
const AHEAD_TIME: Duration = Duration::from_millis(5);
/// ...but at most this many jobs.
const AHEAD_MAX_PER_WORKER: usize = 64;
/// While every worker is busy, starts and ended attempts are recorded with the next claim,
/// or once this many wait...
const RECORD_BATCH: usize = 64;
/// ...or once the first of them has waited this long.
const RECORD_DELAY: Duration = Duration::from_millis(1);
/// A job claimed ahead that no worker has taken after this long goes back to the queue.
const STALE_AFTER: Duration = Duration::from_millis(50);

/// What woke the run loop.
enum Wake {
    Stop,
    Changed,
    Ended(Finished),
    Claimed(usize, crate::store::Result<Claimed>),
    Free(Reservation),
    Work,
    Stale,
}

/// A store call in flight: the number of jobs asked for, and the answer.
type Claiming = Pin<Box<dyn Future<Output = (usize, crate::store::Result<Claimed>)> + Send>>;

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
    started: Vec<(JobId, SystemTime)>,
    ended: Vec<Finished>,
    since: Option<Instant>,
}

impl Notes {
    fn started(&mut self, id: JobId) {
        self.since.get_or_insert_with(Instant::now);
        self.started.push((id, SystemTime::now()));
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

    fn take(&mut self) -> (Vec<(JobId, SystemTime)>, Vec<Finished>) {
        self.since = None;
        (take(&mut self.started), take(&mut self.ended))
    }
}

/// How long attempts take lately, which decides how many jobs to claim ahead.
#[derive(Default)]
struct Pace {
    mean: Option<Duration>,
}

impl Pace {
    fn observe(&mut self, took: Duration) {
        self.mean = Some(match self.mean {
            None => took,
            Some(mean) => mean.mul_f64(0.9) + took.mul_f64(0.1),
        });
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

/// Hands queued jobs to free workers.
pub struct Dispatcher {
    store: Store,
    pool: Arc<Pool>,
    library: Arc<Library>,
    metrics: Arc<Metrics>,
    output_bytes: u64,
    paused: watch::Sender<bool>,
    /// Jobs claimed and not yet recorded, with the token that cancels each.
    running: Mutex<HashMap<JobId, CancellationToken>>,
    /// Set when a drain ran out of time: stopped jobs go back to the queue.
    releasing: AtomicBool,
    /// Where ended attempts go while the run loop runs.
    ends: Mutex<Option<mpsc::UnboundedSender<Finished>>>,
    tasks: TaskTracker,
}

impl Dispatcher {
    /// A dispatcher over the given parts; start it with [`Dispatcher::run`].
    pub fn new(
        store: Store,
        pool: Arc<Pool>,
        library: Arc<Library>,
        metrics: Arc<Metrics>,
        output_bytes: u64,
    ) -> Arc<Self> {
        Arc::new(Dispatcher {
            store,
            pool,
            library,
            metrics,
            output_bytes,
            paused: watch::Sender::new(false),
            running: Mutex::new(HashMap::new()),
            releasing: AtomicBool::new(false),
            ends: Mutex::new(None),
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
        if let Some(token) = self.running.lock().expect("dispatcher lock").get(&id) {
            token.cancel();
        }
    }

    /// Claims and starts jobs until `stop` is cancelled. Attempts that end come back here
    /// (see [`Dispatcher::record`]), so recording them and claiming the next jobs is one
    /// transaction; one such transaction is in flight at a time, and the attempts that end
    /// meanwhile go into the next.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let (ends, mut ended) = mpsc::unbounded_channel();
        *self.ends.lock().expect("dispatcher lock") = Some(ends);
        let mut queued = self.store.queued();
        let mut paused = self.paused.subscribe();
        let mut ready: VecDeque<Ready> = VecDeque::new();
        let mut notes = Notes::default();
        let mut claiming: Option<Claiming> = None;
        let mut dry: Option<Dry> = None;
        let mut pace = Pace::default();
        loop {
            self.hand_out(&mut ready, None, &mut notes);
            if claiming.is_none() {
                let paused = *paused.borrow_and_update();
                let want = if paused || dry.is_some() { 0 } else { self.wanted(&ready, &pace) };
                // Notes wait to be recorded in a batch only while every worker is busy.
                let record = notes.due().is_some_and(|due| {
                    self.pool.idle() > 0 || notes.len() >= RECORD_BATCH || due <= Instant::now()
                });
                if want > 0 || record {
                    claiming = Some(self.claim(notes.take(), want));
                }
            }
            let stale_at = ready.front().map(|first| first.since + STALE_AFTER);
            let record_at = if claiming.is_none() { notes.due() } else { None };
            // Biased: once stopped, claim nothing more even if a worker is free too.
            let wake = tokio::select! {
                biased;
                () = stop.cancelled() => Wake::Stop,
                _ = paused.changed() => Wake::Changed,
                (asked, claimed) = async { claiming.as_mut().expect("in flight").await },
                    if claiming.is_some() => Wake::Claimed(asked, claimed),
                Some(end) = ended.recv() => Wake::Ended(end),
                reservation = self.pool.reserve(), if !ready.is_empty() => Wake::Free(reservation),
                () = sleep_until(stale_at) => Wake::Stale,
                () = sleep_until(record_at) => Wake::Changed,
                () = more_work(&mut queued, dry) => Wake::Work,
            };
            match wake {
                Wake::Stop => break,
                Wake::Changed => {}
                Wake::Claimed(asked, claimed) => {
                    claiming = None;
                    let seen = self.take_claimed(claimed, &mut ready);
                    self.hand_out(&mut ready, None, &mut notes);
                    dry = match seen {
                        Some((got, _)) if got >= asked || asked == 0 => dry,
                        Some((_, seen)) => Some(self.dry_until(seen).await),
                        // The store failed (logged): try again in a while.
                        None => Some(Dry { seen: u64::MAX, until: Instant::now() + IDLE_RECHECK }),
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
        if let Some(claiming) = claiming {
            let (_, claimed) = claiming.await;
            self.take_claimed(claimed, &mut ready);
        }
        while let Ok(end) = ended.try_recv() {
            notes.ended(end);
        }
        if !notes.is_empty() {
            let (_, recorded) = self.claim(notes.take(), 0).await;
            self.take_claimed(recorded, &mut ready);
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
    fn claim(
        &self,
        (started, finished): (Vec<(JobId, SystemTime)>, Vec<Finished>),
        limit: usize,
    ) -> Claiming {
        let store = self.store.clone();
        Box::pin(async move { (limit, store.finish_and_claim(started, finished, limit).await) })
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
            Err(e) => {
                tracing::error!("recording attempts and claiming jobs failed: {e}");
                return None;
            }
        };
        let got = jobs.len();
        let since = Instant::now();
        let mut running = self.running.lock().expect("dispatcher lock");
        for job in jobs {
            let token = CancellationToken::new();
            running.insert(job.id, token.clone());
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
            notes.started(job.id);
            self.tasks.spawn(self.clone().run_job(job, reservation, token));
        }
    }

    /// When to claim again after a claim came back short: once another job is queued, the
    /// earliest delayed job is due, or a while has passed.
    async fn dry_until(&self, seen: u64) -> Dry {
        let wait = match self.store.next_due().await {
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
        self.release(ready.drain(..stale).collect()).await;
    }

    /// Gives claimed jobs that never started back to the queue, their attempt uncounted.
    async fn release(&self, jobs: Vec<Ready>) {
        if jobs.is_empty() {
            return;
        }
        let ids: Vec<JobId> = {
            let mut running = self.running.lock().expect("dispatcher lock");
            jobs.iter()
                .inspect(|ready| drop(running.remove(&ready.job.id)))
                .map(|ready| ready.job.id)
                .collect()
        };
        if let Err(e) = self.store.release(ids).await {
            tracing::error!("giving claimed jobs back to the queue failed: {e}");
        }
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
        if let Err(e) = self.store.finish_and_claim(Vec::new(), vec![end], 0).await {
            tracing::error!("recording the job's end failed: {e}");
        }
    }

    async fn run_job(
        self: Arc<Self>,
        job: JobRecord,
        reservation: Reservation,
        token: CancellationToken,
    ) {
        let completed = match self.spec(&job).await {
            Ok(spec) => reservation.run_cancellable(spec, token).await,
            Err(error) => {
                drop(reservation);
                let now = SystemTime::now();
                let result =
                    JobResult::without_output(job.id.to_string(), Outcome::LoadFailed(error));
                Completed { result, worker_pid: 0, started_at: now, finished_at: now }
            }
        };
        self.running.lock().expect("dispatcher lock").remove(&job.id);
        let stopped = completed.result.outcome == Outcome::Cancelled;
        if stopped && self.releasing.load(Ordering::SeqCst) {
            if let Err(e) = self.store.release(vec![job.id]).await {
                tracing::error!(job = job.id, "giving the job back to the queue failed: {e}");
            }
        } else {
            self.metrics.job_finished(&completed);
            self.record(self.finished(&job, completed)).await;
        }
    }

    async fn spec(&self, job: &JobRecord) -> Result<JobSpec, String> {
        let module =
            self.library.module_ref(&job.module_hash, job.fuel).await.map_err(|e| e.to_string())?;
        let mut args = Vec::with_capacity(job.args.len() + 1);
        args.push(format!("{}.wasm", &job.module_hash[..12.min(job.module_hash.len())]));
        args.extend(job.args.iter().cloned());
        Ok(JobSpec {
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
        })
    }

    /// What to record for an attempt: its end, or a retry while attempts remain.
    fn finished(&self, job: &JobRecord, completed: Completed) -> Finished {
        let Completed { result, worker_pid, started_at, finished_at } = completed;
        let outcome = &result.outcome;
        let retry = !outcome.succeeded()
            && *outcome != Outcome::Cancelled
            && job.attempts < job.max_attempts;
        let state = match outcome {
            Outcome::Exited(0) => JobState::Succeeded,
            Outcome::TimedOut(_) => JobState::TimedOut,
            Outcome::Cancelled => JobState::Cancelled,
            _ => JobState::Failed,
        };
        Finished {
            id: job.id,
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
        }
    }

    /// Stops claiming, lets running jobs finish for up to `grace`, then stops the rest and
    /// gives them back to the queue.
    pub async fn drain(&self, stop: &CancellationToken, grace: Duration) {
        stop.cancel();
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait()).await.is_err() {
            self.releasing.store(true, Ordering::SeqCst);
            let tokens: Vec<_> =
                self.running.lock().expect("dispatcher lock").values().cloned().collect();
            tracing::warn!(
                "{} job(s) still running after {grace:?}; stopping them and leaving them queued",
                tokens.len()
            );
            tokens.iter().for_each(CancellationToken::cancel);
            self.tasks.wait().await;
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
