//! The embedded backend: an SQLite file in the data directory, for one host.
//!
//! Every change goes through one writer thread (with its own connection) that commits
//! whatever changes are waiting in a single transaction (group commit): many submissions or
//! results cost one sync, and each caller is answered only after its change is on disk (or,
//! with `--sync off`, in the WAL: handed to the OS, not synced).
//! Reads use a few read-only connections of their own (WAL lets them run beside the writer).
//! One driver, rusqlite, for all of it: the schema, the writer and the reads.

mod bulk;
mod checkpoint;
mod connect;
mod migrate;
mod queue_admin;
mod reads;
mod schedules;
mod stats;
mod writer;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot};

use super::announce::Announce;
use super::stats::{Bucket, ModuleStats, QueueItem, QueueStat};
use super::{
    Attempt, AttemptRecord, Bulk, Cancel, Change, Claimed, Durability, Finished, Fired, JobBrief,
    JobFilter, JobId, JobRecord, JobSummaryRecord, LaneCount, ModuleRecord, NewJob, NewSchedule,
    Recovered, Result, Running, ScheduleChange, ScheduleRecord, StoreError, Tick,
};
use crate::job::ModuleKind;
use crate::wire::JobState;
use reads::Readers;
use writer::{Events, Write};

/// Changes waiting for the writer beyond this make callers wait (backpressure).
const WRITE_QUEUE: usize = 4096;

/// Read-only connections: reads running at once (more wait for one to be free).
const READERS: usize = 4;

/// The SQLite store handle; cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    reads: Readers,
    writes: mpsc::Sender<Write>,
    counts: Arc<Mutex<BTreeMap<JobState, u64>>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies the schema; jobs this host
    /// claims are marked with `node`. Answers wait for the disk ([`Durability::Disk`]).
    #[cfg(test)]
    pub async fn open(path: &Path, node: &str, announce: Announce) -> Result<SqliteStore> {
        SqliteStore::open_with(path, node, announce, Durability::Disk).await
    }

    /// [`SqliteStore::open`] with the durability of the answers given to clients.
    pub async fn open_with(
        path: &Path,
        node: &str,
        announce: Announce,
        durability: Durability,
    ) -> Result<SqliteStore> {
        let path = path.to_path_buf();
        // The schema, and the counts the writer keeps from here on, on the writer's
        // connection before anyone reads; then the readers.
        let opened = tokio::task::spawn_blocking(move || -> Result<_> {
            let mut writer = connect::writer(&path)?;
            migrate::run(&mut writer)?;
            let counts = reads::counts(&writer)?;
            let reads = Readers::open(&path, READERS)?;
            let checkpoints = checkpoint::start(&path)?;
            Ok((writer, counts, reads, checkpoints))
        });
        let (writer, counts, reads, checkpoints) = match opened.await {
            Ok(opened) => opened?,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => return Err(StoreError::Closed),
        };
        let (writes, queue) = mpsc::channel(WRITE_QUEUE);
        let counts = Arc::new(Mutex::new(counts));
        let events = Events { announce, counts: counts.clone(), node: node.to_string() };
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                writer::run(writer, queue, events, durability);
                drop(checkpoints);
            })
            .map_err(|e| StoreError::CommitFailed(format!("starting the writer thread: {e}")))?;
        Ok(SqliteStore { reads, writes, counts })
    }

    async fn write<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Write) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.writes.send(make(reply)).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    pub async fn queue_put(
        &self,
        queue: String,
        item: Vec<u8>,
        capacity: u64,
        by: Option<Running>,
    ) -> Result<bool> {
        self.write(|reply| Write::QueuePut { queue, item, capacity, by, reply }).await
    }

    pub async fn queue_take(
        &self,
        queue: String,
        by: Option<Running>,
    ) -> Result<Option<(i64, Vec<u8>)>> {
        self.write(|reply| Write::QueueTake { queue, by, reply }).await
    }

    pub async fn queue_restore(&self, queue: String, id: i64, item: Vec<u8>) -> Result<()> {
        self.write(|reply| Write::QueueRestore { queue, id, item, reply }).await
    }

    pub async fn progress(&self, by: Running, percent: u8, message: String) -> Result<()> {
        self.write(|reply| Write::Progress { by, percent, message, reply }).await
    }

    pub async fn queue_len(&self, queue: &str) -> Result<u64> {
        let queue = queue.to_string();
        self.reads.read(move |db| reads::queue_len(db, &queue)).await
    }

    pub async fn queue_peek(
        &self,
        queue: &str,
        limit: u32,
        preview: u32,
    ) -> Result<Vec<QueueItem>> {
        let queue = queue.to_string();
        self.reads.read(move |db| queue_admin::peek(db, &queue, limit, preview)).await
    }

    pub async fn queue_purge(&self, queue: String) -> Result<u64> {
        self.write(|reply| Write::QueuePurge { queue, reply }).await
    }

    pub async fn queues(&self) -> Result<Vec<QueueStat>> {
        self.reads.read(stats::queues).await
    }

    pub async fn module_stats(&self) -> Result<Vec<ModuleStats>> {
        self.reads.read(stats::module_stats).await
    }

    pub async fn history(
        &self,
        from: SystemTime,
        width: Duration,
        count: u32,
    ) -> Result<Vec<Bucket>> {
        self.reads.read(move |db| stats::history(db, from, width, count)).await
    }

    /// The module's bytes stay in the data directory's file (one host reads them there).
    pub async fn put_module(
        &self,
        hash: String,
        kind: ModuleKind,
        bytes: &[u8],
        name: Option<String>,
        exports: Option<String>,
    ) -> Result<(ModuleRecord, bool)> {
        let size = bytes.len() as u64;
        self.write(|reply| Write::PutModule { hash, kind, size, name, exports, reply }).await
    }

    pub async fn delete_module(&self, hash: String) -> Result<()> {
        self.write(|reply| Write::DeleteModule { hash, reply }).await
    }

    pub async fn submit(&self, jobs: Vec<NewJob>) -> Result<Vec<(JobId, JobState)>> {
        self.write(|reply| Write::Submit { jobs, reply }).await
    }

    pub async fn finish_and_claim(
        &self,
        started: Vec<(Attempt, SystemTime)>,
        finished: Vec<Finished>,
        lane: &str,
        limit: usize,
    ) -> Result<Claimed> {
        let lane = lane.to_string();
        self.write(|reply| Write::FinishAndClaim { started, finished, lane, limit, reply }).await
    }

    pub async fn set_max_running(
        &self,
        hash: String,
        max_running: Option<u32>,
    ) -> Result<Option<ModuleRecord>> {
        self.write(|reply| Write::SetMaxRunning { hash, max_running, reply }).await
    }

    pub async fn lane_counts(&self) -> Result<BTreeMap<String, LaneCount>> {
        self.reads.read(reads::lane_counts).await
    }

    pub async fn cancel(&self, id: JobId) -> Result<Cancel> {
        self.write(|reply| Write::Cancel { id, reply }).await
    }

    pub async fn retry(&self, id: JobId) -> Result<Change> {
        self.write(|reply| Write::Retry { id, reply }).await
    }

    pub async fn cancel_matching(&self, filter: &JobFilter) -> Result<Bulk> {
        let filter = filter.clone();
        self.write(|reply| Write::CancelMatching { filter, reply }).await
    }

    pub async fn retry_matching(&self, filter: &JobFilter) -> Result<Bulk> {
        let filter = filter.clone();
        self.write(|reply| Write::RetryMatching { filter, reply }).await
    }

    pub async fn delete_matching(&self, filter: &JobFilter) -> Result<Bulk> {
        let filter = filter.clone();
        self.write(|reply| Write::DeleteMatching { filter, reply }).await
    }

    pub async fn delete_job(&self, id: JobId) -> Result<Change> {
        self.write(|reply| Write::DeleteJob { id, reply }).await
    }

    pub async fn release(&self, attempts: Vec<Attempt>) -> Result<()> {
        self.write(|reply| Write::Release { attempts, reply }).await
    }

    pub async fn recover(&self) -> Result<Recovered> {
        self.write(|reply| Write::Recover { reply }).await
    }

    pub async fn purge(&self, cutoff: SystemTime) -> Result<u64> {
        self.write(|reply| Write::Purge { cutoff, reply }).await
    }

    pub async fn job(&self, id: JobId) -> Result<Option<JobRecord>> {
        self.reads.read(move |db| reads::job(db, id)).await
    }

    pub async fn jobs(&self, filter: &JobFilter) -> Result<Vec<JobSummaryRecord>> {
        let filter = filter.clone();
        self.reads.read(move |db| reads::jobs(db, &filter)).await
    }

    pub async fn count_matching(&self, filter: &JobFilter) -> Result<BTreeMap<JobState, u64>> {
        let filter = filter.clone();
        self.reads.read(move |db| reads::count_matching(db, &filter)).await
    }

    pub async fn attempts(&self, ids: &[JobId]) -> Result<BTreeMap<JobId, Vec<AttemptRecord>>> {
        let ids = ids.to_vec();
        self.reads.read(move |db| reads::attempts(db, &ids)).await
    }

    pub async fn briefs(&self, ids: &[JobId]) -> Result<Vec<JobBrief>> {
        let ids = ids.to_vec();
        self.reads.read(move |db| reads::briefs(db, &ids)).await
    }

    pub async fn module(&self, hash_or_name: &str) -> Result<Option<ModuleRecord>> {
        let hash_or_name = hash_or_name.to_string();
        self.reads.read(move |db| reads::module(db, &hash_or_name)).await
    }

    pub async fn modules(&self) -> Result<Vec<ModuleRecord>> {
        self.reads.read(reads::modules).await
    }

    /// Kept in memory by the writer as changes commit.
    pub async fn counts(&self) -> Result<BTreeMap<JobState, u64>> {
        Ok(self.counts.lock().expect("counts lock").clone())
    }

    pub async fn next_due(&self, lane: &str) -> Result<Option<SystemTime>> {
        let lane = lane.to_string();
        self.reads.read(move |db| reads::next_due(db, &lane)).await
    }

    pub async fn create_schedule(&self, schedule: NewSchedule) -> Result<Option<ScheduleRecord>> {
        self.write(|reply| Write::CreateSchedule { schedule, reply }).await
    }

    pub async fn update_schedule(
        &self,
        name: String,
        change: ScheduleChange,
    ) -> Result<Option<ScheduleRecord>> {
        self.write(|reply| Write::UpdateSchedule { name, change, reply }).await
    }

    pub async fn delete_schedule(&self, name: String) -> Result<bool> {
        self.write(|reply| Write::DeleteSchedule { name, reply }).await
    }

    pub async fn schedule(&self, name: &str) -> Result<Option<ScheduleRecord>> {
        let name = name.to_string();
        self.reads.read(move |db| reads::schedule(db, &name)).await
    }

    pub async fn schedule_count(&self) -> Result<u64> {
        self.reads.read(reads::schedule_count).await
    }

    pub async fn schedules(&self) -> Result<Vec<ScheduleRecord>> {
        self.reads.read(reads::schedules).await
    }

    pub async fn fire(&self, tick: Tick) -> Result<Fired> {
        self.write(|reply| Write::Fire { tick: Box::new(tick), reply }).await
    }
}

#[cfg(test)]
mod tests;
