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
mod backend;
mod buckets;
mod changes;
mod error;
mod fair;
mod filter;
mod gate;

mod new_job;
mod postgres;
mod rows;
mod rules;
mod sqlite;
mod stats;
mod summary;
mod types;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, watch};

use backend::{BulkActions, Claims, Cluster, Jobs, Modules, Queues, Reads, Stats};
pub use error::{Result, StoreError};
pub use limits::RateLimitRecord;
pub use rows::{JobBrief, JobRecord, ModuleRecord, NodeRecord};
pub use schedules::{Fired, NewSchedule, ScheduleChange, ScheduleRecord, Tick};
pub use stats::{Bucket, LastFailure, ModuleStats, QueueItem, QueueStat};
pub use summary::JobSummaryRecord;
pub use tenants::{NewToken, TokenRecord, split_name, stored_name};
pub use types::{
    Attempt, AttemptRecord, Beat, Bulk, Cancel, Change, Claimed, Durability, Finished, Heard,
    JobEvent, JobFilter, JobStanding, LaneCount, Location, NodeInfo, Recovered, Rescued, Running,
    Spawned,
};
/// A validated submission, as the API's checks produce it.
pub use wasmpool_protocol::validate::NewJob;

use crate::job::ModuleKind;
// The one place the store names where job states are defined.
use crate::job::JobState;

/// A job's id.
pub type JobId = i64;

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

/// The store handle; cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Engine,
    announce: announce::Announce,
    lane_counts: lanes::LaneCountCache,
}

/// The backend a store opened; every method of the contract ([`backend::Backend`]) is
/// reached through [`each!`].
#[derive(Clone)]
enum Engine {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

// Both backends keep the whole contract: a method missing from either fails to compile here,
// by name, whether or not the facade calls it yet.
const _: () = {
    const fn keeps<B: backend::Backend>() {}
    keeps::<sqlite::SqliteStore>();
    keeps::<postgres::PgStore>();
};

/// Runs the same call on whichever backend the store has.
macro_rules! each {
    ($store:expr, $backend:ident => $call:expr) => {
        match &$store.backend {
            Engine::Sqlite($backend) => $call,
            Engine::Postgres($backend) => $call,
        }
    };
}

// After the macro, which they use.
mod lanes;
mod limits;
mod schedules;
mod tenants;
pub mod workflow;

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
            Location::Sqlite(path) => Engine::Sqlite(
                sqlite::SqliteStore::open_with(path, &node.name, announce.clone(), durability)
                    .await?,
            ),
            Location::Postgres(url) => Engine::Postgres(
                postgres::PgStore::open_with(url, node, announce.clone(), durability).await?,
            ),
        };
        Ok(Store { backend, announce, lane_counts: Arc::default() })
    }

    /// Whether several hosts may share this store.
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Engine::Postgres(_))
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
        each!(self, store => store.module_bytes(hash).await)
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
        each!(self, store => store.recover().await)
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

    /// Where these jobs stand (those that exist), in id order.
    pub async fn standings(&self, ids: &[JobId]) -> Result<Vec<JobStanding>> {
        each!(self, store => store.standings(ids).await)
    }

    /// These jobs (those that exist), every column, in id order.
    pub async fn jobs_by_id(&self, ids: &[JobId]) -> Result<Vec<JobRecord>> {
        each!(self, store => store.jobs_by_id(ids).await)
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

    /// The lanes the live hosts of the cluster serve (PostgreSQL); empty on SQLite, whose
    /// one host knows its own.
    pub async fn lanes_served(&self) -> Result<Vec<String>> {
        each!(self, store => store.lanes_served().await)
    }

    /// Pauses or resumes handing out queued jobs on every host (PostgreSQL; on SQLite the
    /// dispatcher alone holds the pause).
    pub async fn set_paused(&self, paused: bool) -> Result<()> {
        each!(self, store => store.set_paused(paused).await)
    }

    /// Reports this host alive and learns what changed for it (PostgreSQL). On SQLite, the
    /// one host is always alive and learns nothing.
    pub async fn heartbeat(&self, beat: Beat) -> Result<Heard> {
        each!(self, store => store.heartbeat(beat).await)
    }

    /// Joins the cluster again as a new incarnation after being declared lost.
    pub async fn rejoin(&self) -> Result<()> {
        each!(self, store => store.rejoin().await)
    }

    /// Declares nodes silent for `lease` (by the database's clock) lost and rescues their
    /// jobs; exactly one live host does each rescue.
    pub async fn rescue(&self, lease: Duration) -> Result<Rescued> {
        each!(self, store => store.rescue(lease).await)
    }

    /// Leaves the cluster (a graceful stop): the node is `left`, and jobs it still holds go
    /// back to the queue at once, uncounted.
    pub async fn leave(&self) -> Result<()> {
        each!(self, store => store.leave().await)
    }

    /// Every host of the cluster (the newest incarnation of each name); empty on SQLite.
    pub async fn nodes(&self) -> Result<Vec<NodeRecord>> {
        each!(self, store => store.nodes().await)
    }
}
