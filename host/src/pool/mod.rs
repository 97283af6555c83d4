//! The supervisor: a pool of N worker processes, each running one job at a time.
//!
//! Capacity is a fair semaphore: [`Pool::reserve`] waits (FIFO) for room, and the returned
//! [`Reservation`] runs exactly one job. A driver task per worker slot spawns its process,
//! hands it jobs, kills it on cancel or when it overstays its deadline, and replaces it
//! whenever it dies, so the pool always returns to N workers. The pool knows nothing of
//! stores or HTTP; it runs what it is handed.
//!
//! While jobs are short (see [`pace`]) the pool takes more jobs than it has workers, and a
//! busy driver sends its worker a few jobs ahead, so a worker that finishes one starts the
//! next without waiting for the supervisor, and jobs and results cross the pipe in batches.
//! A driver sends ahead only while no other worker is idle, and takes back what waits behind
//! a job that runs long ([`slot`]), so a job never waits behind another while a worker is
//! free for long.

mod host;
mod line;
mod pace;
pub(crate) use pace::{AHEAD_TIME, SHORT_JOB};
mod process;
mod slot;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use host::{Caller, NoTaskHost, OutputSink, TaskHost};
pub use process::describe_exit;

use crate::job::{Completed, JobResult, JobSpec, Outcome};

/// How the pool is set up.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// Number of worker processes.
    pub workers: usize,
    /// The binary to start workers from (normally this very executable).
    pub executable: PathBuf,
    /// Parent of each worker's own working directory.
    pub work_dir: PathBuf,
    /// How long past its timeout a job's worker may stay silent before it is killed.
    pub grace: Duration,
    /// Answers the jobs' `wasmpool:task` calls.
    pub host: Arc<dyn TaskHost>,
    /// Where running jobs' output goes as it is written. With none, workers send output only
    /// with the result (nothing is spent on a live view nobody has).
    pub output: Option<Arc<dyn OutputSink>>,
    /// Cancelled when the pool shuts down (by [`Pool::shutdown`], or by the owner of the
    /// token: the service makes it a child of its shutdown tree's root).
    pub shutdown: CancellationToken,
}

impl std::fmt::Debug for dyn TaskHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TaskHost")
    }
}

impl std::fmt::Debug for dyn OutputSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutputSink")
    }
}

impl PoolConfig {
    /// `workers` processes of the current executable, working under `work_dir`.
    pub fn new(workers: usize, work_dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        Ok(PoolConfig {
            workers: workers.max(1),
            executable: std::env::current_exe()?,
            work_dir: work_dir.into(),
            grace: Duration::from_secs(1),
            host: Arc::new(NoTaskHost),
            output: None,
            shutdown: CancellationToken::new(),
        })
    }
}

/// What a worker slot is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkerState {
    /// Its process is being started.
    Starting,
    /// Waiting for a job.
    Idle,
    /// Running a job.
    Busy {
        /// The job.
        job_id: String,
        /// Since when.
        since: SystemTime,
    },
}

/// One worker as the pool sees it.
#[derive(Clone, Debug)]
pub struct WorkerInfo {
    /// Slot number, 0..N.
    pub slot: usize,
    /// Current process id (0 while starting).
    pub pid: u32,
    /// What it is doing.
    pub state: WorkerState,
}

/// A point-in-time view of the pool.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Every worker slot.
    pub workers: Vec<WorkerInfo>,
    /// How many worker processes have been replaced since the pool started.
    pub restarts: u64,
}

/// A job handed to a driver.
struct Assignment {
    job: JobSpec,
    cancel: CancellationToken,
    reply: Reply,
    /// Released by the driver once the job ended.
    permit: OwnedSemaphorePermit,
    /// Whether a driver has it, or its caller took it back (see [`Waiting::withdraw`]).
    hold: Arc<Hold>,
}

/// Where the news of a job goes: the one answer its caller awaits ([`Handed`]: `run`,
/// `map`), or the reports channel of a caller that handed it over with
/// [`Reservation::hand_to`] (a lane's dispatcher, which follows many jobs in one loop).
enum Reply {
    Once(oneshot::Sender<Completed>),
    Reports(Reporter),
}

/// What the pool tells a caller that hands it jobs with [`Reservation::hand_to`].
pub enum Report {
    /// A worker started the job (the time is the one its result carries as `started_at`).
    Started {
        /// The job's id.
        id: String,
        /// When.
        at: SystemTime,
    },
    /// The job is back in the pool's queue, unstarted (its worker gave it back): it waits
    /// for the next free worker, and its caller may take it back.
    Waiting(Waiting),
    /// The job ended, or the pool ended it (cancelled before it started, shut down).
    Ended(Completed),
}

/// A job in the pool's queue, which its caller may take back while no worker has it.
pub struct Waiting {
    id: String,
    hold: Arc<Hold>,
}

impl Waiting {
    /// The job's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Takes the job back if it still waits in the pool's queue: `true` means it never
    /// started and never will, and the pool reports nothing more of it; `false`, a worker
    /// has it (its start and end will be reported).
    pub fn withdraw(&self) -> bool {
        self.hold.withdraw()
    }
}

/// A reports channel for one job. Dropped without having reported the job's end (the pool
/// shut down with the job in its queue), it reports the pool's end instead, so its caller
/// never waits for a job the pool forgot.
struct Reporter {
    id: String,
    reports: mpsc::UnboundedSender<Report>,
    ended: bool,
}

impl Reporter {
    fn send(&self, report: Report) {
        let _ = self.reports.send(report);
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        if !self.ended {
            let _ = self.reports.send(Report::Ended(shut_down(std::mem::take(&mut self.id))));
        }
    }
}

impl Reply {
    /// A worker started the job at `at`.
    fn started(&self, at: SystemTime) {
        if let Reply::Reports(reporter) = self {
            reporter.send(Report::Started { id: reporter.id.clone(), at });
        }
    }

    /// The job went back to the pool's queue.
    fn waiting(&self, hold: &Arc<Hold>) {
        if let Reply::Reports(reporter) = self {
            reporter.send(Report::Waiting(Waiting { id: reporter.id.clone(), hold: hold.clone() }));
        }
    }

    /// How the job ended.
    fn ended(self, completed: Completed) {
        match self {
            Reply::Once(answer) => drop(answer.send(completed)),
            Reply::Reports(mut reporter) => {
                reporter.ended = true;
                reporter.send(Report::Ended(completed));
            }
        }
    }

    /// Its caller took the job back: nothing more is reported.
    fn withdrawn(self) {
        if let Reply::Reports(mut reporter) = self {
            reporter.ended = true;
        }
    }
}

/// Who holds a job handed to the pool: nobody yet (it waits in the pool's queue), a driver
/// (it is on a worker, waiting or running), or its caller again (it waited too long).
#[derive(Default)]
struct Hold(AtomicU8);

const WAITING: u8 = 0;
const TAKEN: u8 = 1;
const WITHDRAWN: u8 = 2;

impl Hold {
    /// A driver takes the job; `false` if its caller took it back first.
    fn take(&self) -> bool {
        self.0.compare_exchange(WAITING, TAKEN, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// The job is back in the pool's queue, never started.
    fn put_back(&self) {
        self.0.store(WAITING, Ordering::Release);
    }

    /// The caller takes the job back; `false` if a driver has it.
    fn withdraw(&self) -> bool {
        self.0.compare_exchange(WAITING, WITHDRAWN, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }
}

/// State shared by the pool handle and its drivers.
struct Shared {
    config: PoolConfig,
    workers: Mutex<Vec<WorkerInfo>>,
    restarts: AtomicU64,
    shutdown: CancellationToken,
    /// Room for jobs: a permit per worker, and more while jobs are short.
    capacity: Arc<Semaphore>,
    /// How long jobs take lately, and how many each worker is sent ahead.
    pace: pace::Pace,
    /// Drivers waiting for a job.
    idle: AtomicUsize,
    /// The pool's queue of jobs, which any driver takes from; jobs a worker gave back
    /// unstarted go back to it.
    jobs: async_channel::Sender<Assignment>,
}

impl Shared {
    fn set_worker(&self, slot: usize, pid: u32, state: WorkerState) {
        let mut workers = self.workers.lock().expect("pool state lock");
        workers[slot] = WorkerInfo { slot, pid, state };
    }

    /// Notes how long a job ran, adjusting the room for jobs sent ahead.
    fn observe(&self, took: Duration) {
        self.pace.observe(took, &self.capacity);
    }

    /// Notes a job still running after `took` (at least [`slot::RECALL_AFTER`]).
    fn running_long(&self, took: Duration) {
        self.pace.running_long(took, &self.capacity);
    }

    /// Gives an ended job's room back (or retires it, if the room for jobs ahead shrank).
    fn release(&self, permit: OwnedSemaphorePermit) {
        self.pace.release(permit);
    }
}

/// A pool of worker processes.
pub struct Pool {
    shared: Arc<Shared>,
    tasks: TaskTracker,
}

impl Pool {
    /// Starts the drivers, which start the worker processes. Must run inside a
    /// multi-threaded tokio runtime (see [`process::WorkerProcess::spawn`]).
    pub fn start(config: PoolConfig) -> std::io::Result<Pool> {
        std::fs::create_dir_all(&config.work_dir)?;
        let n = config.workers;
        let (jobs, queue) = async_channel::unbounded();
        let shared = Arc::new(Shared {
            workers: Mutex::new(
                (0..n)
                    .map(|slot| WorkerInfo { slot, pid: 0, state: WorkerState::Starting })
                    .collect(),
            ),
            shutdown: config.shutdown.clone(),
            config,
            restarts: AtomicU64::new(0),
            capacity: Arc::new(Semaphore::new(n)),
            pace: pace::Pace::new(n),
            idle: AtomicUsize::new(0),
            jobs,
        });
        let tasks = TaskTracker::new();
        for slot in 0..n {
            tasks.spawn(slot::drive(slot, shared.clone(), queue.clone()));
        }
        tasks.close();
        Ok(Pool { shared, tasks })
    }

    /// Number of worker slots.
    pub fn size(&self) -> usize {
        self.shared.config.workers
    }

    /// Waits, first come first served, until the pool has room for a job (a free worker, or
    /// while jobs are short a place ahead on a busy one), and holds it for one job.
    pub async fn reserve(&self) -> Reservation {
        let permit = self
            .shared
            .capacity
            .clone()
            .acquire_owned()
            .await
            .expect("the pool's semaphore is never closed");
        Reservation { permit, jobs: self.shared.jobs.clone() }
    }

    /// How many more jobs the pool takes right now (room not held by a [`Reservation`]).
    pub fn idle(&self) -> usize {
        self.shared.capacity.available_permits()
    }

    /// The moving mean of the recent run times, which decides how many jobs the pool takes
    /// ahead; `None` before the first job ended.
    pub fn mean_run_time(&self) -> Option<Duration> {
        self.shared.pace.mean()
    }

    /// How many workers wait for a job right now.
    pub fn idle_workers(&self) -> usize {
        self.shared.idle.load(Ordering::Relaxed)
    }

    /// The most jobs the pool takes at once while jobs are short: a bound for callers that
    /// keep jobs in flight themselves.
    pub fn most_in_flight(&self) -> usize {
        self.size() * (1 + pace::AHEAD_MAX)
    }

    /// Holds room for a job if there is some right now.
    pub fn try_reserve(&self) -> Option<Reservation> {
        let permit = self.shared.capacity.clone().try_acquire_owned().ok()?;
        Some(Reservation { permit, jobs: self.shared.jobs.clone() })
    }

    /// Runs one job, waiting for a free worker first.
    pub async fn run(&self, job: JobSpec) -> Completed {
        self.reserve().await.run(job).await
    }

    /// Every worker's pid and state, and the restart count.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            workers: self.shared.workers.lock().expect("pool state lock").clone(),
            restarts: self.shared.restarts.load(Ordering::Relaxed),
        }
    }

    /// Stops every worker (killing any still running a job) and waits for the drivers.
    pub async fn shutdown(self) {
        self.shared.shutdown.cancel();
        self.shared.jobs.close();
        self.tasks.wait().await;
        let _ = std::fs::remove_dir_all(&self.shared.config.work_dir);
    }
}

/// Room in the pool held for one job.
pub struct Reservation {
    permit: OwnedSemaphorePermit,
    jobs: async_channel::Sender<Assignment>,
}

impl Reservation {
    /// Runs the job and returns how it ended.
    pub async fn run(self, job: JobSpec) -> Completed {
        self.run_cancellable(job, CancellationToken::new()).await
    }

    /// Like [`Reservation::run`], with a token the caller may cancel at any time, even before
    /// the job reaches its worker: cancelling kills the worker running it (and the pool
    /// replaces it).
    pub async fn run_cancellable(self, job: JobSpec, cancel: CancellationToken) -> Completed {
        self.hand_over(job, cancel).completed().await
    }

    /// Hands the job to the pool now, without waiting: jobs handed over one after another
    /// reach the workers in that order. `cancel` works as for [`Reservation::run_cancellable`].
    pub fn hand_over(self, job: JobSpec, cancel: CancellationToken) -> Handed {
        let id = job.id.clone();
        let (reply, answer) = oneshot::channel();
        self.enqueue(job, cancel, Reply::Once(reply));
        Handed { id, answer }
    }

    /// Hands the job to the pool now, as [`Reservation::hand_over`] does, with its news sent
    /// to `reports` (its start, its returns to the pool's queue, its end) instead of a
    /// per-job answer: one task can follow any number of jobs. Returns the job as it waits
    /// in the pool's queue, for its caller to take back if no worker takes it in time.
    pub fn hand_to(
        self,
        job: JobSpec,
        cancel: CancellationToken,
        reports: &mpsc::UnboundedSender<Report>,
    ) -> Waiting {
        let id = job.id.clone();
        let reporter = Reporter { id: id.clone(), reports: reports.clone(), ended: false };
        let hold = self.enqueue(job, cancel, Reply::Reports(reporter));
        Waiting { id, hold }
    }

    fn enqueue(self, job: JobSpec, cancel: CancellationToken, reply: Reply) -> Arc<Hold> {
        let hold: Arc<Hold> = Arc::default();
        let assignment = Assignment { job, cancel, reply, permit: self.permit, hold: hold.clone() };
        // The queue is unbounded: this fails only once the pool shut down, and the dropped
        // job then ends as the pool's end.
        let _ = self.jobs.try_send(assignment);
        hold
    }
}

/// A job handed to the pool, and how it will end.
pub struct Handed {
    id: String,
    answer: oneshot::Receiver<Completed>,
}

impl Handed {
    /// How the job ended.
    pub async fn completed(self) -> Completed {
        self.answer.await.unwrap_or_else(|_| shut_down(self.id))
    }
}

/// How a job ends that the pool dropped as it shut down.
fn shut_down(id: String) -> Completed {
    let now = SystemTime::now();
    Completed {
        result: JobResult::without_output(id, Outcome::WorkerDied("the pool shut down".into())),
        worker_pid: 0,
        started_at: now,
        finished_at: now,
    }
}
