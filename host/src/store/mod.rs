//! The durable store: modules, jobs, their states and results, in an embedded SQLite file.
//!
//! Every change goes through one writer thread (with its own connection) that commits
//! whatever changes are waiting in a single transaction (group commit): many submissions or
//! results cost one sync, and each caller is answered only after its change is on disk. Reads use a separate pool of
//! connections (WAL lets them run beside the writer). Job transitions are published on an
//! event channel after they commit. The store knows nothing of HTTP or worker processes.

mod reads;
mod rows;
mod writer;

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub use rows::{JobBrief, JobRecord, ModuleRecord};

use crate::job::ModuleKind;
use crate::wire::JobState;
use writer::{Events, Write};

/// A job's id.
pub type JobId = i64;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed (a read).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The database failed (a change).
    #[error("database: {0}")]
    Write(#[from] rusqlite::Error),
    /// Applying the schema failed.
    #[error("database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A submission names a module that is not stored.
    #[error("no module with hash {0}")]
    UnknownModule(String),
    /// The module is still needed by queued or running jobs.
    #[error("module {hash} is used by {jobs} queued or running job(s)")]
    ModuleInUse {
        /// The module.
        hash: String,
        /// How many jobs need it.
        jobs: u64,
    },
    /// A stored value did not decode.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The group of changes this one was committed with failed to commit.
    #[error("commit failed: {0}")]
    CommitFailed(String),
    /// The writer thread is gone (the store is shutting down).
    #[error("the store is closed")]
    Closed,
}

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A validated job submission.
#[derive(Clone, Debug, Default)]
pub struct NewJob {
    /// The module's hash (resolved from a name by the caller).
    pub module_hash: String,
    /// A label for people.
    pub name: Option<String>,
    /// Arguments after the program name.
    pub args: Vec<String>,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// Standard input.
    pub stdin: Vec<u8>,
    /// Higher first.
    pub priority: i32,
    /// Wall-clock limit.
    pub timeout_ms: u64,
    /// Memory limit in MiB.
    pub memory_mb: u64,
    /// Fuel limit.
    pub fuel: Option<u64>,
    /// Attempts allowed in all.
    pub max_attempts: u32,
    /// Not to start before this much time has passed.
    pub delay: Duration,
    /// A retried submission with the same key returns the first job.
    pub idempotency_key: Option<String>,
}

/// How one attempt ended, to be recorded.
#[derive(Clone, Debug)]
pub struct Finished {
    /// The job.
    pub id: JobId,
    /// `Some(time)` to queue the job again for another attempt not before `time`;
    /// `None` to end it in `state`.
    pub retry_at: Option<SystemTime>,
    /// The terminal state (ignored when retrying).
    pub state: JobState,
    /// The worker that ran the attempt.
    pub worker_pid: Option<u32>,
    /// When the attempt started on its worker.
    pub started_at: SystemTime,
    /// When the attempt ended.
    pub finished_at: SystemTime,
    /// The exit code, when the guest exited.
    pub exit_code: Option<i32>,
    /// Captured stdout.
    pub stdout: Vec<u8>,
    /// Captured stderr.
    pub stderr: Vec<u8>,
    /// Whether stdout was cut.
    pub stdout_truncated: bool,
    /// Whether stderr was cut.
    pub stderr_truncated: bool,
    /// Why it did not succeed.
    pub error: Option<String>,
    /// Fuel burnt.
    pub fuel_used: Option<u64>,
    /// Peak linear memory.
    pub peak_memory_bytes: u64,
}

/// Jobs moved to running by [`Store::finish_and_claim`].
#[derive(Debug, Default)]
pub struct Claimed {
    /// The jobs, highest priority then oldest first.
    pub jobs: Vec<JobRecord>,
    /// How many times a job had become queued when the claim ran: every job queued by then
    /// was visible to it, so when it comes back short, nothing more is claimable until
    /// [`Store::queued`] passes this count (or a delayed job falls due).
    pub seen: u64,
}

/// What a cancel request found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cancel {
    /// No such job.
    NotFound,
    /// It was queued or running (given) and is now cancelled.
    Cancelled(JobState),
    /// It had already ended in this state.
    AlreadyEnded(JobState),
}

/// What a retry or delete request found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// No such job.
    NotFound,
    /// Done.
    Done,
    /// Not allowed in the job's current state.
    Refused(JobState),
}

/// Which jobs to list.
#[derive(Clone, Debug, Default)]
pub struct JobFilter {
    /// Only jobs in this state.
    pub state: Option<JobState>,
    /// Only jobs of this module.
    pub module_hash: Option<String>,
    /// Only jobs older than this id (the page cursor).
    pub before: Option<JobId>,
    /// At most this many.
    pub limit: u32,
}

/// A job's state changed (published after the change committed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobEvent {
    /// The job.
    pub id: JobId,
    /// Its new state.
    pub state: JobState,
}

/// What recovery after a restart did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Jobs claimed that had not reached a worker, queued again with the attempt uncounted.
    pub released: u64,
    /// Jobs found running and queued again for another attempt.
    pub requeued: u64,
    /// Jobs found running with no attempts left, now failed.
    pub failed: u64,
}

/// The store handle; cheap to clone.
#[derive(Clone)]
pub struct Store {
    reads: sqlx::SqlitePool,
    writes: mpsc::Sender<Write>,
    events: broadcast::Sender<JobEvent>,
    queue_events: broadcast::Sender<String>,
    counts: Arc<Mutex<BTreeMap<JobState, u64>>>,
    queued: watch::Sender<u64>,
}

/// Changes waiting for the writer beyond this make callers wait (backpressure).
const WRITE_QUEUE: usize = 4096;

impl Store {
    /// Opens (creating if needed) the database file and applies the schema.
    pub async fn open(path: &Path) -> Result<Store> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk when the caller hears of it. Group commit pays for it;
            // the writer relaxes it for the dispatcher's own bookkeeping (see writer.rs).
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let mut connection = sqlx::ConnectOptions::connect(&options).await?;
        sqlx::migrate!("host/src/store/migrations").run(&mut connection).await?;
        sqlx::Connection::close(connection).await?;
        let writer = writer::connect(path)?;
        let reads = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        let (events, _) = broadcast::channel(4096);
        let (queue_events, _) = broadcast::channel(4096);
        let (writes, queue) = mpsc::channel(WRITE_QUEUE);
        let counts = Arc::new(Mutex::new(reads::counts(&reads).await?));
        let queued = watch::Sender::new(0);
        let announce = Events {
            jobs: events.clone(),
            queues: queue_events.clone(),
            counts: counts.clone(),
            queued: queued.clone(),
        };
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer::run(writer, queue, announce))
            .map_err(|e| StoreError::CommitFailed(format!("starting the writer thread: {e}")))?;
        Ok(Store { reads, writes, events, queue_events, counts, queued })
    }

    /// Job transitions from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.events.subscribe()
    }

    /// How many times a job has become queued since the store opened, updated as changes
    /// commit: the dispatcher waits on it for work (see [`Claimed::seen`]).
    pub fn queued(&self) -> watch::Receiver<u64> {
        self.queued.subscribe()
    }

    /// Names of queues whose items change from now on.
    pub fn subscribe_queues(&self) -> broadcast::Receiver<String> {
        self.queue_events.subscribe()
    }

    /// Appends an item unless the queue holds `capacity` items; returns whether it did.
    pub async fn queue_put(&self, queue: String, item: Vec<u8>, capacity: u64) -> Result<bool> {
        self.write(|reply| Write::QueuePut { queue, item, capacity, reply }).await
    }

    /// Takes the oldest item of a queue, with its id (to put it back if it cannot be delivered).
    pub async fn queue_take(&self, queue: String) -> Result<Option<(i64, Vec<u8>)>> {
        self.write(|reply| Write::QueueTake { queue, reply }).await
    }

    /// Puts a taken item back in its place.
    pub async fn queue_restore(&self, queue: String, id: i64, item: Vec<u8>) -> Result<()> {
        self.write(|reply| Write::QueueRestore { queue, id, item, reply }).await
    }

    /// Records a running job's latest progress.
    pub async fn progress(&self, id: JobId, percent: u8, message: String) -> Result<()> {
        self.write(|reply| Write::Progress { id, percent, message, reply }).await
    }

    /// How many items a queue holds.
    pub async fn queue_len(&self, queue: &str) -> Result<u64> {
        reads::queue_len(&self.reads, queue).await
    }

    /// Every non-empty queue with its length, by name.
    pub async fn queues(&self) -> Result<Vec<(String, u64)>> {
        reads::queues(&self.reads).await
    }

    async fn write<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Write) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.writes.send(make(reply)).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Records a module; `name`, if given, now points at it. Returns the module and whether it
    /// was new.
    pub async fn put_module(
        &self,
        hash: String,
        kind: ModuleKind,
        size: u64,
        name: Option<String>,
    ) -> Result<(ModuleRecord, bool)> {
        self.write(|reply| Write::PutModule { hash, kind, size, name, reply }).await
    }

    /// Deletes a module and its names, unless queued or running jobs use it.
    pub async fn delete_module(&self, hash: String) -> Result<()> {
        self.write(|reply| Write::DeleteModule { hash, reply }).await
    }

    /// Accepts jobs, all or none, in one transaction. Returns each job's id and state (an
    /// earlier job's, when its idempotency key was seen before).
    pub async fn submit(&self, jobs: Vec<NewJob>) -> Result<Vec<(JobId, JobState)>> {
        self.write(|reply| Write::Submit { jobs, reply }).await
    }

    /// Records when claimed jobs started on a worker (`started`), and how attempts ended —
    /// each job ends, or is queued again for a retry; jobs no longer running (cancelled
    /// meanwhile) are left as they are — then moves up to `limit` due queued jobs to running
    /// (highest priority, then oldest first), counting an attempt, and returns them. One
    /// transaction: the dispatcher records the attempts that freed workers and claims their
    /// next jobs at once. A claimed job has no `started_at` until its start is recorded, so
    /// recovery after a crash can tell the jobs that never reached a worker.
    pub async fn finish_and_claim(
        &self,
        started: Vec<(JobId, SystemTime)>,
        finished: Vec<Finished>,
        limit: usize,
    ) -> Result<Claimed> {
        self.write(|reply| Write::FinishAndClaim { started, finished, limit, reply }).await
    }

    /// Cancels a queued or running job.
    pub async fn cancel(&self, id: JobId) -> Result<Cancel> {
        self.write(|reply| Write::Cancel { id, reply }).await
    }

    /// Queues an ended (failed, timed-out or cancelled) job again as a new attempt.
    pub async fn retry(&self, id: JobId) -> Result<Change> {
        self.write(|reply| Write::Retry { id, reply }).await
    }

    /// Removes an ended job.
    pub async fn delete_job(&self, id: JobId) -> Result<Change> {
        self.write(|reply| Write::DeleteJob { id, reply }).await
    }

    /// Gives running jobs back to the queue without counting their attempt (a draining host
    /// stopped them).
    pub async fn release(&self, ids: Vec<JobId>) -> Result<()> {
        self.write(|reply| Write::Release { ids, reply }).await
    }

    /// After a restart: jobs claimed by a dead host that had not started go back to the queue
    /// as if never claimed; those that had started are queued again (their attempt counted)
    /// or, with no attempts left, failed with the reason.
    pub async fn recover(&self) -> Result<Recovered> {
        self.write(|reply| Write::Recover { reply }).await
    }

    /// Removes ended jobs that finished before `cutoff`; returns how many.
    pub async fn purge(&self, cutoff: SystemTime) -> Result<u64> {
        self.write(|reply| Write::Purge { cutoff, reply }).await
    }

    /// One job.
    pub async fn job(&self, id: JobId) -> Result<Option<JobRecord>> {
        reads::job(&self.reads, id).await
    }

    /// Jobs, newest first.
    pub async fn jobs(&self, filter: &JobFilter) -> Result<Vec<JobRecord>> {
        reads::jobs(&self.reads, filter).await
    }

    /// What the dashboard shows of these jobs (those that exist).
    pub async fn briefs(&self, ids: &[JobId]) -> Result<Vec<JobBrief>> {
        reads::briefs(&self.reads, ids).await
    }

    /// A module by hash or name.
    pub async fn module(&self, hash_or_name: &str) -> Result<Option<ModuleRecord>> {
        reads::module(&self.reads, hash_or_name).await
    }

    /// Every module, newest first.
    pub async fn modules(&self) -> Result<Vec<ModuleRecord>> {
        reads::modules(&self.reads).await
    }

    /// Jobs per state (every state present, zero included). Kept in memory by the writer
    /// as changes commit, so it costs no query however many jobs there are.
    pub async fn counts(&self) -> Result<BTreeMap<JobState, u64>> {
        Ok(self.counts.lock().expect("counts lock").clone())
    }

    /// When the earliest queued job becomes due, if any is queued.
    pub async fn next_due(&self) -> Result<Option<SystemTime>> {
        reads::next_due(&self.reads).await
    }
}
