//! The durable store: modules, jobs, their states and results, named queues, and (with
//! PostgreSQL) the nodes of a cluster. One facade, [`Store`], over two backends:
//!
//! - `sqlite` (the embedded default): a file in the data directory, one writer thread with
//!   group commit, a read pool beside it. One host.
//! - `postgres` (shared): many hosts claim from one database with `FOR UPDATE SKIP LOCKED`,
//!   wake each other with `LISTEN/NOTIFY`, heartbeat, and fence every attempt's writes.
//!
//! Both publish job transitions after they commit ([`Store::subscribe`]) and keep the same
//! contracts, checked by one conformance suite. The store knows nothing of HTTP or workers.

mod announce;
mod filter;
mod postgres;
mod rows;
mod sqlite;
mod stats;
mod summary;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, watch};

pub use rows::{JobBrief, JobRecord, ModuleRecord, NodeRecord};
pub use schedules::{Fired, NewSchedule, ScheduleChange, ScheduleRecord, Tick};
pub use stats::{Bucket, LastFailure, ModuleStats, QueueItem, QueueStat};
pub use summary::JobSummaryRecord;
/// A validated submission, as the API's checks produce it.
pub use wasmpool_protocol::validate::NewJob;

use crate::job::ModuleKind;
use crate::wire::JobState;

/// A job's id.
pub type JobId = i64;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// PostgreSQL failed.
    #[error("database: {0}")]
    Database(sqlx::Error),
    /// SQLite failed (a read or a change).
    #[error("database: {0}")]
    Sqlite(rusqlite::Error),
    /// The database cannot serve now (PostgreSQL down or unreachable; SQLite still locked
    /// past its busy timeout, its disk full or failing); try again later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// PostgreSQL ended this transaction to break a deadlock or a serialization failure
    /// with another one: nothing changed, and the same change again may well pass.
    #[error("the database ended this change to let a concurrent one through: {0}")]
    Conflict(String),
    /// The database's disk is full: nothing can be written until there is room again.
    #[error("the job database's disk is full: {0}")]
    Full(String),
    /// Another live host already uses this node name.
    #[error(
        "node name `{0}` is taken by a live host (its heartbeat is recent); pick another --node \
         or wait for its lease to run out"
    )]
    NodeNameTaken(String),
    /// Applying PostgreSQL's schema failed.
    #[error("database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// SQLite's schema cannot be applied, or the database's is not one this wasmpool knows.
    #[error("database schema: {0}")]
    Schema(String),
    /// A job's call came from an attempt that is no longer current (cancelled, or rescued
    /// from this host): it changes nothing.
    #[error("job {0} is no longer running here")]
    NotRunning(JobId),
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

impl From<sqlx::Error> for StoreError {
    /// Errors that mean "the database cannot be reached now" become [`StoreError::Unavailable`],
    /// so callers answer 503 and retry instead of reporting a failure of the request.
    fn from(error: sqlx::Error) -> Self {
        // 53100: disk_full.
        if let sqlx::Error::Database(e) = &error
            && e.code().as_deref() == Some("53100")
        {
            return StoreError::Full(error.to_string());
        }
        // 40P01: deadlock_detected; 40001: serialization_failure.
        if let sqlx::Error::Database(e) = &error
            && matches!(e.code().as_deref(), Some("40P01" | "40001"))
        {
            return StoreError::Conflict(error.to_string());
        }
        let unreachable = match &error {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
            sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => true,
            // Class 08 (connection exception) and 57P0x (the server is shutting down or
            // starting up).
            sqlx::Error::Database(e) => e.code().is_some_and(|code| {
                code.starts_with("08") || code.starts_with("57P0") || code.starts_with("53")
            }),
            _ => false,
        };
        if unreachable {
            StoreError::Unavailable(error.to_string())
        } else {
            StoreError::Database(error)
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    /// As with PostgreSQL, errors that say "not now" rather than "this request is wrong"
    /// become [`StoreError::Unavailable`]: the database stayed locked past the busy timeout,
    /// or its disk is full or failing.
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        let code = error.sqlite_error_code();
        if code == Some(ErrorCode::DiskFull) {
            return StoreError::Full(error.to_string());
        }
        let unavailable = matches!(
            code,
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::SystemIoFailure)
        );
        if unavailable {
            StoreError::Unavailable(error.to_string())
        } else {
            StoreError::Sqlite(error)
        }
    }
}

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which attempt of a job a write comes from: the attempt number and the node incarnation
/// that claimed it. A write from any other attempt (a stale host's, a rescued job's) changes
/// nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Attempt {
    /// The job.
    pub id: JobId,
    /// Its attempt number.
    pub number: u32,
    /// The node incarnation that claimed it (0 on SQLite, which has one host).
    pub node_id: i64,
}

/// A running attempt of this host, as the job's own calls name it (a queue put or get, a
/// progress report): the call counts only while that attempt is the job's current one here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Running {
    /// The job.
    pub id: JobId,
    /// Its attempt number.
    pub attempt: u32,
}

impl JobRecord {
    /// The fencing token of the job's current attempt.
    pub fn attempt(&self) -> Attempt {
        Attempt { id: self.id, number: self.attempts, node_id: self.node_id.unwrap_or(0) }
    }
}

/// How one attempt ended, to be recorded.
#[derive(Clone, Debug)]
pub struct Finished {
    /// The attempt that ended (its fencing token, with the job's id).
    pub attempt: Attempt,
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
    /// What a call returned (JSON); `None` for a command.
    pub result: Option<String>,
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

/// Which jobs to list, or to act on in bulk: every field present narrows the selection
/// (conditions combine with AND); `limit` applies to listing only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only jobs in this state.
    pub state: Option<JobState>,
    /// Only jobs of this module.
    pub module_hash: Option<String>,
    /// Only jobs of this lane.
    pub lane: Option<String>,
    /// Only jobs whose current or last attempt ran on this host.
    pub node: Option<String>,
    /// Only jobs made by this schedule.
    pub schedule: Option<String>,
    /// Only jobs whose name contains this (exactly, case and all).
    pub name: Option<String>,
    /// Only jobs whose name contains this, or, when it is all digits, whose id it is.
    pub search: Option<String>,
    /// Only jobs submitted at or after this.
    pub submitted_after: Option<SystemTime>,
    /// Only jobs submitted before this.
    pub submitted_before: Option<SystemTime>,
    /// Only jobs older than this id (the page cursor).
    pub before: Option<JobId>,
    /// At most this many (listing).
    pub limit: u32,
}

impl JobFilter {
    /// Whether nothing narrows the selection (every job would match).
    pub fn selects_everything(&self) -> bool {
        let JobFilter {
            state,
            module_hash,
            lane,
            node,
            schedule,
            name,
            search,
            submitted_after,
            submitted_before,
            before,
            limit: _,
        } = self;
        state.is_none()
            && module_hash.is_none()
            && lane.is_none()
            && node.is_none()
            && schedule.is_none()
            && name.is_none()
            && search.is_none()
            && submitted_after.is_none()
            && submitted_before.is_none()
            && before.is_none()
    }
}

/// What a bulk action found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bulk {
    /// Jobs the filter selected.
    pub matched: u64,
    /// The jobs it changed, each with the state it was in (a cancelled job that was
    /// `running` must be stopped on its host).
    pub changed: Vec<(JobId, JobState)>,
}

/// One ended attempt of a job, as kept in its history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    /// Its number (1 for the first).
    pub attempt: u32,
    /// The host that ran it.
    pub node: Option<String>,
    /// The worker process that ran it.
    pub worker_pid: Option<u32>,
    /// When it started on its worker.
    pub started_at: SystemTime,
    /// When it ended.
    pub finished_at: SystemTime,
    /// How it ended (`succeeded`, `failed`, `timed_out`, `cancelled`), even when the job was
    /// queued again for another attempt.
    pub state: JobState,
    /// The guest's exit code, when it exited.
    pub exit_code: Option<i32>,
    /// Why it did not succeed.
    pub error: Option<String>,
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

impl Finished {
    /// The job.
    pub fn id(&self) -> JobId {
        self.attempt.id
    }
}

/// Where the jobs are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file (one host).
    Sqlite(PathBuf),
    /// A PostgreSQL database shared by every host of a cluster (a `postgres://` URL).
    Postgres(String),
}

impl Location {
    /// Parses `--store`: `postgres://…` (or `postgresql://…`) or `sqlite:PATH`.
    pub fn parse(text: &str) -> Result<Location, String> {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Ok(Location::Postgres(text.to_string()))
        } else if let Some(path) = text.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err("`sqlite:` needs a file path, e.g. sqlite:./jobs.db".into());
            }
            Ok(Location::Sqlite(PathBuf::from(path)))
        } else {
            Err(format!("unknown store `{text}`: give postgres://USER@HOST/DB or sqlite:PATH"))
        }
    }

    /// The location with any password left out, for logs and messages.
    pub fn redacted(&self) -> String {
        match self {
            Location::Sqlite(path) => format!("sqlite:{}", path.display()),
            Location::Postgres(url) => match (url.find("://"), url.rfind('@')) {
                (Some(scheme), Some(at)) if at > scheme => {
                    let user = &url[scheme + 3..at];
                    let user = user.split(':').next().unwrap_or("");
                    format!("{}{user}{}", &url[..scheme + 3], &url[at..])
                }
                _ => url.clone(),
            },
        }
    }
}

/// The starts whose attempt does not also end in the same call: the result's write sets
/// `started_at` itself, under the same fence, so a short job that started and ended between
/// two transactions costs one row write instead of two (W1's no-op jobs mostly do).
fn starts_not_finished(
    mut started: Vec<(Attempt, SystemTime)>,
    finished: &[Finished],
) -> Vec<(Attempt, SystemTime)> {
    if !started.is_empty() && !finished.is_empty() {
        let ended: std::collections::HashSet<Attempt> =
            finished.iter().map(|end| end.attempt).collect();
        started.retain(|(attempt, _)| !ended.contains(attempt));
    }
    started
}

/// What an answer to a client (a 202, a cancel, an upload) promises about the change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// On disk: the change survives a power loss (`serve --sync on`, the default). SQLite
    /// syncs its log (`synchronous = FULL`), PostgreSQL commits synchronously.
    #[default]
    Disk,
    /// In the database's log, handed to the operating system but not yet synced (`serve
    /// --sync off`): it survives a crash or a kill of the service, not of the machine (nor,
    /// on PostgreSQL, of the database server). SQLite: `synchronous = NORMAL` in WAL mode;
    /// PostgreSQL: `synchronous_commit = off`.
    Log,
}

/// This host as a node of the cluster.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    /// Its name (unique among live hosts).
    pub name: String,
    /// Where its API listens.
    pub address: String,
    /// Its wasmpool version.
    pub version: String,
    /// Its worker processes.
    pub workers: usize,
    /// The lanes it serves, with their workers (every host of a cluster learns which lanes
    /// some live host serves).
    pub lanes: Vec<(String, usize)>,
    /// How long a silent host stays alive before the others declare it lost.
    pub lease: Duration,
    /// Most connections it opens to a shared database (PostgreSQL).
    pub connections: u32,
}

/// What this host reports with each heartbeat.
#[derive(Clone, Debug, Default)]
pub struct Beat {
    /// Workers running a job.
    pub busy: usize,
    /// Its workers as the API shows them (JSON), for `/v1/pool` on other hosts.
    pub pool: serde_json::Value,
    /// Whether it is draining (stopping: takes no new jobs, finishes its running ones).
    pub draining: bool,
    /// The attempts it holds (claimed, running or about to run).
    pub holding: Vec<Attempt>,
}

/// What a heartbeat learnt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Heard {
    /// False when the cluster declared this node lost: everything it holds was rescued, and
    /// it must stop its jobs and join again as a new incarnation.
    pub alive: bool,
    /// Attempts it holds that are no longer its to run (cancelled, or rescued elsewhere).
    pub gone: Vec<JobId>,
    /// Whether the cluster is paused.
    pub paused: bool,
}

/// What rescuing the jobs of lost nodes did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rescued {
    /// The nodes declared lost.
    pub nodes: Vec<String>,
    /// And what happened to their jobs.
    pub jobs: Recovered,
}

/// Jobs of one lane.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LaneCount {
    /// Waiting to be claimed.
    pub queued: u64,
    /// Claimed or running.
    pub running: u64,
}

/// How long a count per lane is handed out before it is counted again, at least...
const COUNTS_FRESH: Duration = Duration::from_millis(250);
/// ...and at least this many times as long as counting took: a count walks every queued and
/// running job (700 ms at a million queued), and must not keep a reader busy all the time.
const COUNTS_COST_FACTOR: u32 = 10;

/// The counts per lane last read, with when and how long counting took; handed out again
/// while fresh, and while a count in the background replaces them.
#[derive(Default)]
struct LaneCounts {
    last: Option<(std::time::Instant, Duration, BTreeMap<String, LaneCount>)>,
    counting: bool,
}

type LaneCountCache = Arc<Mutex<LaneCounts>>;

/// The store handle; cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    announce: announce::Announce,
    lane_counts: LaneCountCache,
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

/// Runs the same call on whichever backend the store has.
macro_rules! each {
    ($store:expr, $backend:ident => $call:expr) => {
        match &$store.backend {
            Backend::Sqlite($backend) => $call,
            Backend::Postgres($backend) => $call,
        }
    };
}

// After the macro, which it uses.
mod schedules;

impl Store {
    /// Opens (creating if needed) the store and applies the schema. On PostgreSQL, also joins
    /// the cluster as `node`. Every promise to a client reaches the disk
    /// ([`Durability::Disk`]).
    pub async fn open(location: &Location, node: &NodeInfo) -> Result<Store> {
        Store::open_with(location, node, Durability::Disk).await
    }

    /// [`Store::open`] with the durability of the answers given to clients.
    pub async fn open_with(
        location: &Location,
        node: &NodeInfo,
        durability: Durability,
    ) -> Result<Store> {
        let announce = announce::Announce::new();
        let backend = match location {
            Location::Sqlite(path) => Backend::Sqlite(
                sqlite::SqliteStore::open_with(path, &node.name, announce.clone(), durability)
                    .await?,
            ),
            Location::Postgres(url) => Backend::Postgres(
                postgres::PgStore::open_with(url, node, announce.clone(), durability).await?,
            ),
        };
        Ok(Store { backend, announce, lane_counts: Arc::default() })
    }

    /// Whether several hosts may share this store.
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Job transitions from now on (on PostgreSQL, every host's).
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.announce.jobs.subscribe()
    }

    /// How many times a job has become claimable (as far as this host has heard: queued, or
    /// a running job of a capped module ended), updated as changes commit: the dispatchers
    /// wait on it for work (see [`Claimed::seen`]).
    pub fn queued(&self) -> watch::Receiver<u64> {
        self.announce.queued.subscribe()
    }

    /// Counts changes to schedules (created, changed, deleted; on PostgreSQL, by any host).
    pub fn schedules_changed(&self) -> watch::Receiver<u64> {
        self.announce.schedules.subscribe()
    }

    /// Counts the times this host may have missed other hosts' announcements (on PostgreSQL,
    /// each time its listening connection came back): announcements are a hint, so whoever
    /// waits on one reads the store again when this changes.
    pub fn missed(&self) -> watch::Receiver<u64> {
        self.announce.missed.subscribe()
    }

    /// Names of queues whose items change from now on.
    pub fn subscribe_queues(&self) -> broadcast::Receiver<String> {
        self.announce.queues.subscribe()
    }

    /// Whether the cluster is paused, as changes are heard of (always false on SQLite, whose
    /// pause lives in the dispatcher).
    pub fn paused(&self) -> watch::Receiver<bool> {
        self.announce.paused.subscribe()
    }

    /// Appends an item unless the queue holds `capacity` items; returns whether it did. `by`
    /// names the running job putting it, if a job is: a stale attempt's put is refused
    /// ([`StoreError::NotRunning`]).
    pub async fn queue_put(
        &self,
        queue: String,
        item: Vec<u8>,
        capacity: u64,
        by: Option<Running>,
    ) -> Result<bool> {
        each!(self, store => store.queue_put(queue, item, capacity, by).await)
    }

    /// Takes the oldest item of a queue, with its id (to put it back if it cannot be
    /// delivered). `by` names the running job taking it, if a job is: a stale attempt takes
    /// nothing.
    pub async fn queue_take(
        &self,
        queue: String,
        by: Option<Running>,
    ) -> Result<Option<(i64, Vec<u8>)>> {
        each!(self, store => store.queue_take(queue, by).await)
    }

    /// Puts a taken item back in its place.
    pub async fn queue_restore(&self, queue: String, id: i64, item: Vec<u8>) -> Result<()> {
        each!(self, store => store.queue_restore(queue, id, item).await)
    }

    /// Records a running job's latest progress (only while that attempt is current).
    pub async fn progress(&self, by: Running, percent: u8, message: String) -> Result<()> {
        each!(self, store => store.progress(by, percent, message).await)
    }

    /// How many items a queue holds.
    pub async fn queue_len(&self, queue: &str) -> Result<u64> {
        each!(self, store => store.queue_len(queue).await)
    }

    /// The oldest `limit` items of a queue without taking them, each cut to its first
    /// `preview` bytes.
    pub async fn queue_peek(
        &self,
        queue: &str,
        limit: u32,
        preview: u32,
    ) -> Result<Vec<QueueItem>> {
        each!(self, store => store.queue_peek(queue, limit, preview).await)
    }

    /// Removes every item of a queue; returns how many.
    pub async fn queue_purge(&self, queue: String) -> Result<u64> {
        each!(self, store => store.queue_purge(queue).await)
    }

    /// Every non-empty queue with its length and its oldest item's age, by name.
    pub async fn queues(&self) -> Result<Vec<QueueStat>> {
        each!(self, store => store.queues().await)
    }

    /// Per module with ended runs: runs, successes, failures, p50 and p95 run times, latest
    /// failure. Index-only on both backends, but a scan of every ended job all the same.
    pub async fn module_stats(&self) -> Result<Vec<ModuleStats>> {
        each!(self, store => store.module_stats().await)
    }

    /// `count` buckets of `width` from `from`: jobs that ended succeeded, and failed or timed
    /// out, in each (by their `finished_at`), empty buckets included.
    pub async fn history(
        &self,
        from: SystemTime,
        width: Duration,
        count: u32,
    ) -> Result<Vec<Bucket>> {
        each!(self, store => store.history(from, width, count).await)
    }

    /// Records a module (its bytes too where other hosts must fetch them); `name`, if given,
    /// now points at it. Returns the module and whether it was new.
    pub async fn put_module(
        &self,
        hash: String,
        kind: ModuleKind,
        bytes: &[u8],
        name: Option<String>,
    ) -> Result<(ModuleRecord, bool)> {
        self.put_module_with(hash, kind, bytes, name, None).await
    }

    /// [`Store::put_module`], also recording what the module exports (JSON), when known.
    pub async fn put_module_with(
        &self,
        hash: String,
        kind: ModuleKind,
        bytes: &[u8],
        name: Option<String>,
        exports: Option<String>,
    ) -> Result<(ModuleRecord, bool)> {
        each!(self, store => store.put_module(hash, kind, bytes, name, exports).await)
    }

    /// A module's bytes, where the store keeps them (PostgreSQL); `None` otherwise.
    pub async fn module_bytes(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(None),
            Backend::Postgres(store) => store.module_bytes(hash).await,
        }
    }

    /// Deletes a module and its names, unless queued or running jobs use it.
    pub async fn delete_module(&self, hash: String) -> Result<()> {
        each!(self, store => store.delete_module(hash).await)
    }

    /// Accepts jobs, all or none, in one transaction. Returns each job's id and state (an
    /// earlier job's, when its idempotency key was seen before).
    pub async fn submit(&self, jobs: Vec<NewJob>) -> Result<Vec<(JobId, JobState)>> {
        each!(self, store => store.submit(jobs).await)
    }

    /// Records when claimed jobs started on a worker (`started`), and how attempts ended —
    /// each job ends, or is queued again for a retry; writes of attempts that are no longer
    /// current (cancelled meanwhile, rescued from a lost host) change nothing — then moves up
    /// to `limit` due queued jobs to running (highest priority, then oldest first) for this
    /// host, counting an attempt, and returns them. One transaction: the dispatcher records
    /// the attempts that freed workers and claims their next jobs at once. A claimed job has
    /// no `started_at` until its start is recorded, so a rescue can tell the jobs that never
    /// reached a worker.
    ///
    /// Only jobs of `lane` are claimed, and never one whose module has `max_running` jobs
    /// running (claimed) already, counted across the cluster and within this claim.
    pub async fn finish_and_claim(
        &self,
        started: Vec<(Attempt, SystemTime)>,
        finished: Vec<Finished>,
        lane: &str,
        limit: usize,
    ) -> Result<Claimed> {
        let started = starts_not_finished(started, &finished);
        each!(self, store => store.finish_and_claim(started, finished, lane, limit).await)
    }

    /// Cancels a queued or running job.
    pub async fn cancel(&self, id: JobId) -> Result<Cancel> {
        each!(self, store => store.cancel(id).await)
    }

    /// Queues an ended (failed, timed-out or cancelled) job again as a new attempt.
    pub async fn retry(&self, id: JobId) -> Result<Change> {
        each!(self, store => store.retry(id).await)
    }

    /// Cancels every queued or running job the filter selects, in one transaction; jobs in
    /// other states are left alone. The caller stops those that were running on this host
    /// (other hosts hear of the cancel as of any other).
    pub async fn cancel_matching(&self, filter: &JobFilter) -> Result<Bulk> {
        each!(self, store => store.cancel_matching(filter).await)
    }

    /// Queues again, as a new attempt each, every failed, timed-out or cancelled job the
    /// filter selects, in one transaction; jobs in other states are left alone.
    pub async fn retry_matching(&self, filter: &JobFilter) -> Result<Bulk> {
        each!(self, store => store.retry_matching(filter).await)
    }

    /// Removes every ended job the filter selects with its attempt history, in one
    /// transaction; queued and running ones are left alone (a dry run counts with
    /// [`Store::count_matching`]).
    pub async fn delete_matching(&self, filter: &JobFilter) -> Result<Bulk> {
        each!(self, store => store.delete_matching(filter).await)
    }

    /// Removes an ended job.
    pub async fn delete_job(&self, id: JobId) -> Result<Change> {
        each!(self, store => store.delete_job(id).await)
    }

    /// Gives attempts back to the queue without counting them (a draining host stopped
    /// them, or they were claimed ahead and never started).
    pub async fn release(&self, attempts: Vec<Attempt>) -> Result<()> {
        each!(self, store => store.release(attempts).await)
    }

    /// After a restart (SQLite): jobs claimed by the dead process that had not started go
    /// back to the queue as if never claimed; those that had started are queued again (their
    /// attempt counted) or, with no attempts left, failed with the reason. On PostgreSQL a
    /// dead host's jobs are rescued by the live ones instead ([`Store::rescue`]).
    pub async fn recover(&self) -> Result<Recovered> {
        match &self.backend {
            Backend::Sqlite(store) => store.recover().await,
            Backend::Postgres(_) => Ok(Recovered::default()),
        }
    }

    /// Removes ended jobs that finished before `cutoff`; returns how many.
    pub async fn purge(&self, cutoff: SystemTime) -> Result<u64> {
        each!(self, store => store.purge(cutoff).await)
    }

    /// One job.
    pub async fn job(&self, id: JobId) -> Result<Option<JobRecord>> {
        each!(self, store => store.job(id).await)
    }

    /// Jobs as a listing shows them, newest first.
    pub async fn jobs(&self, filter: &JobFilter) -> Result<Vec<JobSummaryRecord>> {
        each!(self, store => store.jobs(filter).await)
    }

    /// How many jobs the filter selects, by state (states with none left out).
    pub async fn count_matching(&self, filter: &JobFilter) -> Result<BTreeMap<JobState, u64>> {
        each!(self, store => store.count_matching(filter).await)
    }

    /// The ended attempts of these jobs, oldest first per job.
    pub async fn attempts(&self, ids: &[JobId]) -> Result<BTreeMap<JobId, Vec<AttemptRecord>>> {
        each!(self, store => store.attempts(ids).await)
    }

    /// What the dashboard shows of these jobs (those that exist).
    pub async fn briefs(&self, ids: &[JobId]) -> Result<Vec<JobBrief>> {
        each!(self, store => store.briefs(ids).await)
    }

    /// A module by hash or name.
    pub async fn module(&self, hash_or_name: &str) -> Result<Option<ModuleRecord>> {
        each!(self, store => store.module(hash_or_name).await)
    }

    /// Every module, newest first.
    pub async fn modules(&self) -> Result<Vec<ModuleRecord>> {
        each!(self, store => store.modules().await)
    }

    /// Jobs per state (every state present, zero included), in the whole cluster. Costs no
    /// scan per call: SQLite keeps them in memory as changes commit; PostgreSQL counts at
    /// most a few times a second and hands out the latest count meanwhile.
    pub async fn counts(&self) -> Result<BTreeMap<JobState, u64>> {
        each!(self, store => store.counts().await)
    }

    /// When the earliest queued job of `lane` not yet due becomes due, if one waits. (A job
    /// already due that a claim left, its module at its cap, is claimed when a job of that
    /// module ends: see [`Store::queued`].)
    pub async fn next_due(&self, lane: &str) -> Result<Option<SystemTime>> {
        each!(self, store => store.next_due(lane).await)
    }

    /// Sets (or, with `None`, clears) a module's cap on jobs running at once; `None` if no
    /// such module. Raising or clearing a cap wakes the dispatchers.
    pub async fn set_max_running(
        &self,
        hash: String,
        max_running: Option<u32>,
    ) -> Result<Option<ModuleRecord>> {
        each!(self, store => store.set_max_running(hash, max_running).await)
    }

    /// Queued and running jobs per lane, in the whole store (lanes with none left out).
    /// Counted at most a few times a second, and less often when counting is slow (a big
    /// queue); calls in between get the last count, and only the first call ever waits.
    pub async fn lane_counts(&self) -> Result<BTreeMap<String, LaneCount>> {
        let stale = {
            let mut cache = self.lane_counts.lock().expect("lane counts lock");
            let last = cache.last.as_ref().map(|(at, took, counts)| {
                (at.elapsed() >= COUNTS_FRESH.max(*took * COUNTS_COST_FACTOR), counts.clone())
            });
            if let Some((true, _)) = last
                && !cache.counting
            {
                cache.counting = true;
                let store = self.clone();
                tokio::spawn(async move { store.count_lanes().await });
            }
            last.map(|(_, counts)| counts)
        };
        match stale {
            // Never waits for a count once there is one: a caller gets the last, at most a
            // count's time older than the fresh one being made.
            Some(counts) => Ok(counts),
            None => self.count_lanes().await,
        }
    }

    /// Counts the jobs per lane and keeps the answer for [`Store::lane_counts`].
    async fn count_lanes(&self) -> Result<BTreeMap<String, LaneCount>> {
        let started = std::time::Instant::now();
        let counted = each!(self, store => store.lane_counts().await);
        let mut cache = self.lane_counts.lock().expect("lane counts lock");
        cache.counting = false;
        let counts = counted?;
        cache.last = Some((std::time::Instant::now(), started.elapsed(), counts.clone()));
        Ok(counts)
    }

    /// The lanes the live hosts of the cluster serve (PostgreSQL); empty on SQLite, whose
    /// one host knows its own.
    pub async fn lanes_served(&self) -> Result<Vec<String>> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(Vec::new()),
            Backend::Postgres(store) => store.lanes_served().await,
        }
    }

    /// Pauses or resumes handing out queued jobs on every host (PostgreSQL; on SQLite the
    /// dispatcher alone holds the pause).
    pub async fn set_paused(&self, paused: bool) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(store) => store.set_paused(paused).await,
        }
    }

    /// Reports this host alive and learns what changed for it (PostgreSQL). On SQLite, the
    /// one host is always alive and learns nothing.
    pub async fn heartbeat(&self, beat: Beat) -> Result<Heard> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(Heard { alive: true, ..Heard::default() }),
            Backend::Postgres(store) => store.heartbeat(beat).await,
        }
    }

    /// Joins the cluster again as a new incarnation after being declared lost.
    pub async fn rejoin(&self) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(store) => store.rejoin().await,
        }
    }

    /// Declares nodes silent for `lease` (by the database's clock) lost and rescues their
    /// jobs; exactly one live host does each rescue.
    pub async fn rescue(&self, lease: Duration) -> Result<Rescued> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(Rescued::default()),
            Backend::Postgres(store) => store.rescue(lease).await,
        }
    }

    /// Leaves the cluster (a graceful stop): the node is `left`, and jobs it still holds go
    /// back to the queue at once, uncounted.
    pub async fn leave(&self) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(store) => store.leave().await,
        }
    }

    /// Every host of the cluster (the newest incarnation of each name); empty on SQLite.
    pub async fn nodes(&self) -> Result<Vec<NodeRecord>> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(Vec::new()),
            Backend::Postgres(store) => store.nodes().await,
        }
    }
}
