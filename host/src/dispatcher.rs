//! The dispatcher: claims queued jobs from the store only when a worker is free, runs them on
//! the pool, and records each attempt's end — a final state, or a retry after an exponential
//! backoff with jitter while attempts remain. It also carries out cancel, pause and drain.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rand::Rng;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::job::{Completed, JobResult, JobSpec, Limits, Outcome};
use crate::library::Library;
use crate::metrics::Metrics;
use crate::pool::{Pool, Reservation};
use crate::store::{Finished, JobId, JobRecord, Store};
use crate::wire::JobState;

/// First retry delay; doubles per attempt up to [`RETRY_BACKOFF_MAX`].
const RETRY_BACKOFF: Duration = Duration::from_millis(500);
const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(300);
/// With nothing due and no news from the store, look again this often anyway.
const IDLE_RECHECK: Duration = Duration::from_secs(1);

/// What woke the run loop.
enum Wake {
    Stop,
    Changed,
    Ended(Finished),
    Free(Reservation),
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

    /// Stops a claimed job's worker (the store has already marked it cancelled).
    pub fn cancel(&self, id: JobId) {
        if let Some(token) = self.running.lock().expect("dispatcher lock").get(&id) {
            token.cancel();
        }
    }

    /// Claims and starts jobs until `stop` is cancelled. Attempts that end come back here
    /// (see [`Dispatcher::record`]), so recording them and claiming the next jobs for the
    /// workers they freed is one transaction.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let (ends, mut ended) = mpsc::unbounded_channel();
        *self.ends.lock().expect("dispatcher lock") = Some(ends);
        let mut news = self.store.subscribe();
        let mut paused = self.paused.subscribe();
        let mut pending: Vec<Finished> = Vec::new();
        loop {
            let wake = if stop.is_cancelled() {
                Wake::Stop
            } else if *paused.borrow_and_update() {
                tokio::select! {
                    () = stop.cancelled() => Wake::Stop,
                    _ = paused.changed() => Wake::Changed,
                    Some(end) = ended.recv() => Wake::Ended(end),
                }
            } else {
                // Biased: once stopped, claim nothing more even if a worker is free too.
                tokio::select! {
                    biased;
                    () = stop.cancelled() => Wake::Stop,
                    _ = paused.changed() => Wake::Changed,
                    Some(end) = ended.recv() => Wake::Ended(end),
                    reservation = self.pool.reserve() => Wake::Free(reservation),
                }
            };
            let mut reservations = match wake {
                Wake::Stop => break,
                Wake::Changed => continue,
                Wake::Ended(end) => {
                    pending.push(end);
                    Vec::new()
                }
                Wake::Free(reservation) => vec![reservation],
            };
            while let Ok(end) = ended.try_recv() {
                pending.push(end);
            }
            if !*paused.borrow() {
                reservations.extend(std::iter::from_fn(|| self.pool.try_reserve()));
            }
            let wanted = reservations.len();
            let jobs = self.record_and_claim(std::mem::take(&mut pending), wanted).await;
            let claimed = jobs.len();
            for (job, reservation) in jobs.into_iter().zip(reservations) {
                let token = CancellationToken::new();
                self.running.lock().expect("dispatcher lock").insert(job.id, token.clone());
                self.tasks.spawn(self.clone().run_job(job, reservation, token));
            }
            if wanted > 0
                && claimed == 0
                && let Some(end) = self.wait_for_work(&mut news, &mut ended, &stop).await
            {
                pending.push(end);
            }
        }
        // From now on attempts record themselves; record those that came back already.
        self.ends.lock().expect("dispatcher lock").take();
        while let Ok(end) = ended.try_recv() {
            pending.push(end);
        }
        self.record_and_claim(pending, 0).await;
    }

    async fn record_and_claim(&self, finished: Vec<Finished>, limit: usize) -> Vec<JobRecord> {
        if finished.is_empty() && limit == 0 {
            return Vec::new();
        }
        match self.store.finish_and_claim(finished, limit).await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::error!("recording attempts and claiming jobs failed: {e}");
                Vec::new()
            }
        }
    }

    /// Sleeps until a job is queued, the earliest delayed job is due, an attempt ends, or a
    /// while has passed. Returns the attempt that ended, if that is what woke it.
    async fn wait_for_work(
        &self,
        news: &mut broadcast::Receiver<crate::store::JobEvent>,
        ended: &mut mpsc::UnboundedReceiver<Finished>,
        stop: &CancellationToken,
    ) -> Option<Finished> {
        let due = match self.store.next_due().await {
            Ok(Some(at)) => {
                at.duration_since(SystemTime::now()).unwrap_or_default().min(IDLE_RECHECK)
            }
            _ => IDLE_RECHECK,
        };
        let queued = async {
            loop {
                match news.recv().await {
                    Ok(event) if event.state == JobState::Queued => return,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
                }
            }
        };
        tokio::select! {
            () = stop.cancelled() => None,
            () = queued => None,
            Some(end) = ended.recv() => Some(end),
            () = tokio::time::sleep(due) => None,
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
        if let Err(e) = self.store.finish_and_claim(vec![end], 0).await {
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
        let Completed { result, worker_pid, finished_at, .. } = completed;
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
