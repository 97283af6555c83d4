//! The supervisor: a pool of N worker processes, each running one job at a time.
//!
//! Capacity is a fair semaphore with one permit per worker: [`Pool::reserve`] waits (FIFO)
//! for a free worker, and the returned [`Reservation`] runs exactly one job. A driver task per
//! worker slot spawns its process, hands it jobs, kills it on cancel or when it overstays its
//! deadline, and replaces it whenever it dies, so the pool always returns to N workers.
//! The pool knows nothing of stores or HTTP; it runs what it is handed.

mod host;
mod process;
mod slot;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
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
    reply: oneshot::Sender<Completed>,
    /// Released by the driver once its worker is idle again.
    permit: OwnedSemaphorePermit,
}

/// State shared by the pool handle and its drivers.
struct Shared {
    config: PoolConfig,
    workers: Mutex<Vec<WorkerInfo>>,
    restarts: AtomicU64,
    shutdown: CancellationToken,
}

impl Shared {
    fn set_worker(&self, slot: usize, pid: u32, state: WorkerState) {
        let mut workers = self.workers.lock().expect("pool state lock");
        workers[slot] = WorkerInfo { slot, pid, state };
    }
}

/// A pool of worker processes.
pub struct Pool {
    shared: Arc<Shared>,
    capacity: Arc<Semaphore>,
    jobs: async_channel::Sender<Assignment>,
    tasks: TaskTracker,
}

impl Pool {
    /// Starts the drivers, which start the worker processes. Must run inside a
    /// multi-threaded tokio runtime (see [`process::WorkerProcess::spawn`]).
    pub fn start(config: PoolConfig) -> std::io::Result<Pool> {
        std::fs::create_dir_all(&config.work_dir)?;
        let n = config.workers;
        let shared = Arc::new(Shared {
            workers: Mutex::new(
                (0..n)
                    .map(|slot| WorkerInfo { slot, pid: 0, state: WorkerState::Starting })
                    .collect(),
            ),
            config,
            restarts: AtomicU64::new(0),
            shutdown: CancellationToken::new(),
        });
        let (jobs, queue) = async_channel::unbounded();
        let tasks = TaskTracker::new();
        for slot in 0..n {
            tasks.spawn(slot::drive(slot, shared.clone(), queue.clone()));
        }
        tasks.close();
        Ok(Pool { shared, capacity: Arc::new(Semaphore::new(n)), jobs, tasks })
    }

    /// Number of worker slots.
    pub fn size(&self) -> usize {
        self.shared.config.workers
    }

    /// Waits, first come first served, until a worker is free, and holds it for one job.
    pub async fn reserve(&self) -> Reservation {
        let permit = self
            .capacity
            .clone()
            .acquire_owned()
            .await
            .expect("the pool's semaphore is never closed");
        Reservation { permit, jobs: self.jobs.clone() }
    }

    /// How many workers are free right now (not held by a [`Reservation`]).
    pub fn idle(&self) -> usize {
        self.capacity.available_permits()
    }

    /// Holds a free worker if one is free right now.
    pub fn try_reserve(&self) -> Option<Reservation> {
        let permit = self.capacity.clone().try_acquire_owned().ok()?;
        Some(Reservation { permit, jobs: self.jobs.clone() })
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
        self.jobs.close();
        self.tasks.wait().await;
        let _ = std::fs::remove_dir_all(&self.shared.config.work_dir);
    }
}

/// A free worker held for one job.
pub struct Reservation {
    permit: OwnedSemaphorePermit,
    jobs: async_channel::Sender<Assignment>,
}

impl Reservation {
    /// Runs the job on the held worker and returns how it ended.
    pub async fn run(self, job: JobSpec) -> Completed {
        self.run_cancellable(job, CancellationToken::new()).await
    }

    /// Like [`Reservation::run`], with a token the caller may cancel at any time, even before
    /// the job reaches its worker: cancelling kills the worker running it (and the pool
    /// replaces it).
    pub async fn run_cancellable(self, job: JobSpec, cancel: CancellationToken) -> Completed {
        let id = job.id.clone();
        let (reply, answer) = oneshot::channel();
        let assignment = Assignment { job, cancel, reply, permit: self.permit };
        let completed = match self.jobs.send(assignment).await {
            Ok(()) => answer.await.ok(),
            Err(_) => None,
        };
        completed.unwrap_or_else(|| {
            let now = SystemTime::now();
            Completed {
                result: JobResult::without_output(
                    id,
                    Outcome::WorkerDied("the pool shut down".into()),
                ),
                worker_pid: 0,
                started_at: now,
                finished_at: now,
            }
        })
    }
}
