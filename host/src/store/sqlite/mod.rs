//! The embedded backend: an SQLite file in the data directory, for one host.
//!
//! Every change goes through one writer thread (with its own connection) that commits
//! whatever changes are waiting in a single transaction (group commit): many submissions or
//! results cost one sync, and each caller is answered only after its change is on disk.
//! Reads use a separate pool of connections (WAL lets them run beside the writer).

mod reads;
mod writer;

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::{mpsc, oneshot};

use super::announce::Announce;
use super::{
    Attempt, Cancel, Change, Claimed, Finished, JobBrief, JobFilter, JobId, JobRecord,
    ModuleRecord, NewJob, Recovered, Result, Running, StoreError,
};
use crate::job::ModuleKind;
use crate::wire::JobState;
use writer::{Events, Write};

/// Changes waiting for the writer beyond this make callers wait (backpressure).
const WRITE_QUEUE: usize = 4096;

/// The SQLite store handle; cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    reads: sqlx::SqlitePool,
    writes: mpsc::Sender<Write>,
    counts: Arc<Mutex<BTreeMap<JobState, u64>>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies the schema; jobs this host
    /// claims are marked with `node`.
    pub async fn open(path: &Path, node: &str, announce: Announce) -> Result<SqliteStore> {
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
        sqlx::migrate!("host/src/store/sqlite/migrations").run(&mut connection).await?;
        sqlx::Connection::close(connection).await?;
        let writer = writer::connect(path)?;
        let reads = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        let (writes, queue) = mpsc::channel(WRITE_QUEUE);
        let counts = Arc::new(Mutex::new(reads::counts(&reads).await?));
        let events = Events { announce, counts: counts.clone(), node: node.to_string() };
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer::run(writer, queue, events))
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
        reads::queue_len(&self.reads, queue).await
    }

    pub async fn queues(&self) -> Result<Vec<(String, u64)>> {
        reads::queues(&self.reads).await
    }

    /// The module's bytes stay in the data directory's file (one host reads them there).
    pub async fn put_module(
        &self,
        hash: String,
        kind: ModuleKind,
        bytes: &[u8],
        name: Option<String>,
    ) -> Result<(ModuleRecord, bool)> {
        let size = bytes.len() as u64;
        self.write(|reply| Write::PutModule { hash, kind, size, name, reply }).await
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
        limit: usize,
    ) -> Result<Claimed> {
        self.write(|reply| Write::FinishAndClaim { started, finished, limit, reply }).await
    }

    pub async fn cancel(&self, id: JobId) -> Result<Cancel> {
        self.write(|reply| Write::Cancel { id, reply }).await
    }

    pub async fn retry(&self, id: JobId) -> Result<Change> {
        self.write(|reply| Write::Retry { id, reply }).await
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
        reads::job(&self.reads, id).await
    }

    pub async fn jobs(&self, filter: &JobFilter) -> Result<Vec<JobRecord>> {
        reads::jobs(&self.reads, filter).await
    }

    pub async fn briefs(&self, ids: &[JobId]) -> Result<Vec<JobBrief>> {
        reads::briefs(&self.reads, ids).await
    }

    pub async fn module(&self, hash_or_name: &str) -> Result<Option<ModuleRecord>> {
        reads::module(&self.reads, hash_or_name).await
    }

    pub async fn modules(&self) -> Result<Vec<ModuleRecord>> {
        reads::modules(&self.reads).await
    }

    /// Kept in memory by the writer as changes commit.
    pub async fn counts(&self) -> Result<BTreeMap<JobState, u64>> {
        Ok(self.counts.lock().expect("counts lock").clone())
    }

    pub async fn next_due(&self) -> Result<Option<SystemTime>> {
        reads::next_due(&self.reads).await
    }
}
