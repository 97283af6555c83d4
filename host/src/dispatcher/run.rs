//! The loop of one lane: the only task that claims the lane's jobs, hands them to the pool,
//! hears from the pool how each attempt goes, and records it. Its state is a few queues of
//! jobs — claimed (`ready`), handed to the pool (`handed`), possibly still in the pool's
//! queue (`in_queue`) — and the notes and store call of the claim-ahead machinery
//! (`ahead.rs`). Each wake-up is one [`Wake`], handled by a method of its own.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Dispatcher;
use super::ahead::{self, Dry, Failing, Notes, RECORD_BATCH, Taken};
use super::attempt::{self, Tries};
use crate::job::{Completed, JobState, Outcome};
use crate::pool::{Report, Reservation, Waiting};
use crate::store::{Attempt, Claimed, JobId, JobRecord, Spawned, StoreError};

/// A job claimed ahead that no worker has taken after this long — in the loop, or in the
/// pool's queue — goes back to the store's queue.
const STALE_AFTER: Duration = Duration::from_millis(50);
/// How long ended attempts wait for a failing store once the loop is stopping.
const RECORD_PATIENCE: Duration = Duration::from_secs(60);
/// Most reports handled in one wake-up, so a busy pool cannot starve the rest.
const REPORTS_PER_WAKE: usize = 1024;

/// A job claimed and not yet handed to the pool.
struct Ready {
    job: JobRecord,
    token: CancellationToken,
    since: Instant,
}

/// A job handed to the pool, whose end is still to come.
struct Handed {
    job: JobRecord,
    token: CancellationToken,
}

/// A store call in flight.
type Claiming = Pin<Box<dyn Future<Output = Box<Call>> + Send>>;

/// A store call that came back: the number of jobs asked for, the notes it recorded (given
/// back to be recorded again if it failed), and the answer.
struct Call {
    asked: usize,
    notes: Taken,
    answer: Result<Claimed, StoreError>,
}

/// What woke the loop.
enum Wake {
    Stop,
    Changed,
    Claimed(Box<Call>),
    Report(Report),
    Free(Reservation),
    Stale,
    Held,
    Withdraw,
    Work,
}

/// The loop's state.
pub(super) struct Loop {
    dispatcher: Arc<Dispatcher>,
    /// What the pool reports of the jobs handed to it.
    reports: mpsc::UnboundedReceiver<Report>,
    reporter: mpsc::UnboundedSender<Report>,
    queued: watch::Receiver<u64>,
    paused: watch::Receiver<bool>,
    /// Claimed, not yet handed to the pool, in claim order.
    ready: VecDeque<Ready>,
    /// Claimed ahead of their rate limits' tokens (`Claimed::starts`), in the order of the
    /// time each may start (`since`): they join `ready` then.
    held: VecDeque<Ready>,
    /// Handed to the pool and not ended yet.
    handed: HashMap<JobId, Handed>,
    /// Handed jobs that may still wait in the pool's queue, and when to take each back if
    /// no worker took it by then.
    in_queue: VecDeque<(Instant, Waiting)>,
    notes: Notes,
    claiming: Option<Claiming>,
    dry: Option<Dry>,
    failing: Failing,
    /// Whether to claim ahead: not after claimed jobs went stale, until an attempt ends.
    ahead: bool,
    /// Set once stopped: claim nothing more, let what is held end, record it.
    stopping: bool,
    /// While stopping with a failing store: when to give up recording.
    patience: Option<Instant>,
}

impl Loop {
    pub(super) fn new(dispatcher: Arc<Dispatcher>) -> Loop {
        let (reporter, reports) = mpsc::unbounded_channel();
        Loop {
            queued: dispatcher.store.queued(),
            paused: dispatcher.paused.subscribe(),
            dispatcher,
            reports,
            reporter,
            ready: VecDeque::new(),
            held: VecDeque::new(),
            handed: HashMap::new(),
            in_queue: VecDeque::new(),
            notes: Notes::default(),
            claiming: None,
            dry: None,
            failing: Failing::default(),
            ahead: true,
            stopping: false,
            patience: None,
        }
    }

    /// Claims and hands out jobs until `stop`, then until every attempt it holds is recorded
    /// or given back. One store call is in flight at a time; what happens meanwhile goes into
    /// the next.
    pub(super) async fn run(mut self, stop: CancellationToken) {
        loop {
            self.hand_out(None);
            if self.stopping && self.is_empty() {
                return;
            }
            self.call_store();
            match self.next(&stop).await {
                Wake::Stop => self.stop().await,
                Wake::Changed => {}
                Wake::Claimed(call) => self.claimed(*call).await,
                Wake::Report(report) => self.reported(report).await,
                Wake::Free(reservation) => self.hand_out(Some(reservation)),
                Wake::Stale => self.release_stale().await,
                Wake::Held => self.unhold(),
                Wake::Withdraw => self.withdraw_due().await,
                Wake::Work => self.dry = None,
            }
        }
    }

    /// Whether nothing is held any more: no job, note or store call.
    fn is_empty(&self) -> bool {
        self.claiming.is_none()
            && self.notes.is_empty()
            && self.handed.is_empty()
            && self.ready.is_empty()
            && self.held.is_empty()
    }

    /// Waits for the next thing to act on.
    async fn next(&mut self, stop: &CancellationToken) -> Wake {
        let stale_at = self.ready.front().map(|first| first.since + STALE_AFTER);
        let held_until = self.held.front().map(|first| first.since);
        let withdraw_at = self.in_queue.front().map(|(at, _)| *at);
        let record_at = match self.claiming {
            None => self.notes.due().map(|due| self.failing.until.map_or(due, |at| at.max(due))),
            Some(_) => None,
        };
        let stopping = self.stopping;
        let room = !self.ready.is_empty() && !stopping;
        let dry = if stopping { None } else { self.dry };
        let Loop { claiming, reports, paused, queued, dispatcher, .. } = self;
        // Biased: once stopped, claim nothing more even if a worker is free too.
        tokio::select! {
            biased;
            () = stop.cancelled(), if !stopping => Wake::Stop,
            _ = paused.changed(), if !stopping => Wake::Changed,
            call = async { claiming.as_mut().expect("in flight").await },
                if claiming.is_some() => Wake::Claimed(call),
            Some(report) = reports.recv() => Wake::Report(report),
            reservation = dispatcher.pool.reserve(), if room => Wake::Free(reservation),
            () = sleep_until(stale_at) => Wake::Stale,
            () = sleep_until(held_until), if !stopping => Wake::Held,
            () = sleep_until(withdraw_at) => Wake::Withdraw,
            () = sleep_until(record_at) => Wake::Changed,
            () = more_work(queued, dry) => Wake::Work,
        }
    }

    /// Starts a store call if none is in flight and the store is not backing off: a claim
    /// for free room, or the notes when due. Notes wait to be recorded in a batch only while
    /// every worker is busy (and never while stopping).
    fn call_store(&mut self) {
        if self.claiming.is_some() || !self.failing.may_call() {
            return;
        }
        let paused = *self.paused.borrow_and_update();
        let want = if self.stopping || paused || self.dry.is_some() { 0 } else { self.wanted() };
        let pool = &self.dispatcher.pool;
        let record = self.notes.due().is_some_and(|due| {
            self.stopping
                || pool.idle_workers() > 0
                || self.notes.len() >= RECORD_BATCH
                || due <= Instant::now()
        });
        if want > 0 || record {
            let notes = self.notes.take();
            self.claiming = Some(self.claim(notes, want));
        }
    }

    /// How many jobs to claim now (see [`ahead::wanted`]).
    fn wanted(&self) -> usize {
        let pool = &self.dispatcher.pool;
        let ahead = if self.ahead { ahead::ahead(pool.size(), pool.mean_run_time()) } else { 0 };
        ahead::wanted(pool.idle(), self.ready.len() + self.held.len(), ahead)
    }

    /// Records the notes and claims up to `limit` jobs, in the background.
    fn claim(&self, notes: Taken, limit: usize) -> Claiming {
        let store = self.dispatcher.store.clone();
        let lane = self.dispatcher.lane.clone();
        Box::pin(async move {
            let (started, finished) = notes.clone();
            let answer = store.finish_and_claim(started, finished, &lane, limit).await;
            Box::new(Call { asked: limit, notes, answer })
        })
    }

    /// A store call came back: its jobs join the ready ones, its notes are kept if it
    /// failed, and a claim that came back short makes the lane dry until more work comes.
    async fn claimed(&mut self, call: Call) {
        self.claiming = None;
        let Call { asked, notes, answer } = call;
        if answer.is_err() {
            self.keep(notes);
        } else {
            self.patience = None;
        }
        self.failing.after(&answer);
        let seen = self.take_claimed(answer);
        if self.stopping {
            let ready: Vec<Ready> = self.ready.drain(..).chain(self.held.drain(..)).collect();
            return self.release(ready).await;
        }
        self.hand_out(None);
        self.dry = match seen {
            Some((got, ..)) if got >= asked || asked == 0 => self.dry,
            Some((_, seen, wake_at)) => Some(self.dispatcher.dry_until(seen, wake_at).await),
            // The store failed (logged): claim again after the backoff.
            None => {
                Some(Dry { seen: u64::MAX, until: self.failing.until.unwrap_or_else(Instant::now) })
            }
        };
    }

    /// Takes back the notes of a failed store call, unless the loop is stopping and has
    /// waited [`RECORD_PATIENCE`] for the store already: an attempt that ended must not be
    /// forgotten while there is a chance to store it, nor hold up the end for ever.
    fn keep(&mut self, notes: Taken) {
        if self.stopping {
            let patience = *self.patience.get_or_insert_with(|| Instant::now() + RECORD_PATIENCE);
            if Instant::now() >= patience {
                let ended = notes.1.len();
                tracing::error!("recording {ended} ended attempt(s) failed; giving up");
                return;
            }
        }
        self.notes.restore(notes);
    }

    /// Adds claimed jobs to `ready`; returns how many there were, the store's queued count
    /// the claim saw and when a rate limit may let more go, or `None` if the store failed.
    fn take_claimed(
        &mut self,
        claimed: Result<Claimed, StoreError>,
    ) -> Option<(usize, u64, Option<SystemTime>)> {
        // An error is logged by `Failing::after`.
        let Claimed { jobs, seen, wake_at, starts } = claimed.ok()?;
        let got = jobs.len();
        let since = Instant::now();
        let now = SystemTime::now();
        let mut running = self.dispatcher.running();
        for job in jobs {
            let token = CancellationToken::new();
            running.insert(job.id, (job.attempt(), token.clone()));
            let start = starts.iter().find(|(id, _)| *id == job.id);
            match start.and_then(|(_, at)| at.duration_since(now).ok()) {
                Some(wait) if !wait.is_zero() => {
                    let ready = Ready { job, token, since: since + wait };
                    let at = self.held.partition_point(|held| held.since <= ready.since);
                    self.held.insert(at, ready);
                }
                _ => self.ready.push_back(Ready { job, token, since }),
            }
        }
        Some((got, seen, wake_at))
    }

    /// Starts ready jobs on free room in the pool: the room just reserved, then any free
    /// right now. Jobs cancelled while they waited are dropped (the store has them
    /// cancelled).
    fn hand_out(&mut self, mut reserved: Option<Reservation>) {
        while let Some(first) = self.ready.front() {
            if first.token.is_cancelled() {
                let dropped = self.ready.pop_front().expect("a first job");
                self.dispatcher.running().remove(&dropped.job.id);
                continue;
            }
            let Some(reservation) = reserved.take().or_else(|| self.dispatcher.pool.try_reserve())
            else {
                break;
            };
            let Ready { job, token, .. } = self.ready.pop_front().expect("a first job");
            attempt::log_start(&job);
            let waiting = self.dispatcher.start(&job, reservation, token.clone(), &self.reporter);
            if let Some(waiting) = waiting {
                self.in_queue.push_back((Instant::now() + STALE_AFTER, waiting));
            }
            self.handed.insert(job.id, Handed { job, token });
        }
    }

    /// Acts on what the pool reported, and on whatever more it reported meanwhile.
    async fn reported(&mut self, first: Report) {
        let mut stopped = Vec::new();
        let mut next = Some(first);
        let mut count = 0;
        while let Some(report) = next {
            match report {
                Report::Started { id, at } => {
                    let handed = id.parse().ok().and_then(|id: JobId| self.handed.get(&id));
                    if let Some(handed) = handed {
                        self.notes.started(handed.job.attempt(), at);
                    }
                }
                Report::Waiting(waiting) => {
                    self.in_queue.push_back((Instant::now() + STALE_AFTER, waiting));
                }
                Report::Ended(completed) => stopped.extend(self.ended(completed)),
            }
            count += 1;
            next = if count < REPORTS_PER_WAKE { self.reports.try_recv().ok() } else { None };
        }
        if !stopped.is_empty()
            && let Err(e) = self.dispatcher.store.release(stopped).await
        {
            tracing::error!("giving stopped jobs back to the queue failed: {e}");
        }
    }

    /// Notes how an attempt ended; returns it instead when a drain that ran out of time
    /// stopped it, to give it back to the queue.
    fn ended(&mut self, completed: Completed) -> Option<Attempt> {
        let id: JobId = completed.result.id.parse().ok()?;
        let Handed { job, .. } = self.handed.remove(&id)?;
        self.dispatcher.running().remove(&id);
        let spawned = self.dispatcher.spawner.take(job.attempt());
        if completed.result.outcome == Outcome::Cancelled && self.dispatcher.releasing() {
            return Some(job.attempt());
        }
        self.dispatcher.metrics.job_finished(&completed);
        let now = SystemTime::now();
        let mut end =
            attempt::finished(job.attempt(), Tries::of(&job), completed, now, attempt::jitter());
        // Only a success writes what the attempt spawned (with its result, in the store).
        if end.next_state() == JobState::Succeeded && !spawned.is_empty() {
            let limits = self.dispatcher.spawner.workflow_limits();
            end.spawned = Some(Box::new(Spawned { jobs: spawned, limits }));
        }
        attempt::log_end(&job, &end);
        self.notes.ended(end);
        self.ahead = true;
        None
    }

    /// Takes back the handed jobs that still wait in the pool's queue [`STALE_AFTER`] after
    /// they went there (every worker busy with longer jobs than the pool expected): they
    /// join the ready jobs, first in line (they were claimed before those), to be handed out
    /// again or given back to the queue when stale; once stopping, they go back at once.
    async fn withdraw_due(&mut self) {
        let now = Instant::now();
        let mut back = Vec::new();
        while self.in_queue.front().is_some_and(|(at, _)| *at <= now) {
            let (_, waiting) = self.in_queue.pop_front().expect("a first job");
            let id = waiting.id().parse::<JobId>().ok();
            if !waiting.withdraw() {
                continue;
            }
            if let Some(Handed { job, token }) = id.and_then(|id| self.handed.remove(&id)) {
                tracing::debug!(job = job.id, "no worker took the job within {STALE_AFTER:?}");
                back.push(Ready { job, token, since: now });
            }
        }
        if self.stopping {
            return self.release(back).await;
        }
        back.into_iter().rev().for_each(|ready| self.ready.push_front(ready));
    }

    /// Moves the held jobs whose time has come to the ready ones.
    fn unhold(&mut self) {
        let now = Instant::now();
        while self.held.front().is_some_and(|first| first.since <= now) {
            let mut ready = self.held.pop_front().expect("a first job");
            ready.since = now;
            self.ready.push_back(ready);
        }
    }

    /// Gives the jobs claimed ahead that waited too long back to the queue, and claims none
    /// ahead until an attempt ends.
    async fn release_stale(&mut self) {
        self.ahead = false;
        let now = Instant::now();
        let stale = self.ready.iter().take_while(|job| job.since + STALE_AFTER <= now).count();
        tracing::debug!("{stale} job(s) claimed ahead waited {STALE_AFTER:?}; queuing them again");
        let jobs: Vec<Ready> = self.ready.drain(..stale).collect();
        let records: Vec<JobRecord> = jobs.iter().map(|ready| ready.job.clone()).collect();
        if self.dispatcher.try_release(&records).await.is_err() {
            // Still ours in the store: keep them for the next free worker rather than lose
            // them (a full disk, a database restarting), and wait a while before trying again.
            for mut job in jobs.into_iter().rev() {
                job.since = now;
                self.ready.push_front(job);
            }
        }
    }

    /// Stops claiming: the jobs not handed out go back to the queue; the loop goes on until
    /// the handed ones have ended and are recorded.
    async fn stop(&mut self) {
        self.stopping = true;
        let ready: Vec<Ready> = self.ready.drain(..).chain(self.held.drain(..)).collect();
        self.release(ready).await;
    }

    async fn release(&mut self, jobs: Vec<Ready>) {
        let jobs: Vec<JobRecord> = jobs.into_iter().map(|ready| ready.job).collect();
        self.dispatcher.release(&jobs).await;
    }
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
