//! Read-only queries, on a few read-only connections beside the writer (WAL lets them read
//! while it writes). Each read holds one connection on tokio's blocking pool; a read waits
//! for a connection only when all of them are busy.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rusqlite::{Connection, Params, Statement, params, params_from_iter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{SqliteStore, connect};
use crate::store::backend::Reads;
use crate::store::filter::{self, Dialect};
use crate::store::rows::{self, JobBrief, JobRecord, ModuleRecord, Positioned};
use crate::store::summary::{self, JobSummaryRecord};
use crate::store::{
    AttemptRecord, JobFilter, JobId, JobStanding, JobState, LaneCount, Result, StoreError,
};

const JOB: &str = include_str!("sql/job.sql");
const JOBS: &str = include_str!("sql/jobs.sql");
const COUNT_MATCHING: &str = include_str!("sql/count_matching.sql");
const ATTEMPTS: &str = include_str!("sql/attempts.sql");
const MODULE: &str = include_str!("sql/module.sql");
const MODULES: &str = include_str!("sql/modules.sql");
const COUNTS: &str = include_str!("sql/counts.sql");
const NEXT_DUE: &str = include_str!("sql/next_due.sql");
const LANE_COUNTS: &str = include_str!("sql/lane_counts.sql");
const BRIEFS: &str = include_str!("sql/briefs.sql");
const STANDINGS: &str = include_str!("sql/standings.sql");
const JOBS_BY_ID: &str = include_str!("sql/jobs_by_id.sql");

/// The read connections; cheap to clone.
#[derive(Clone)]
pub struct Readers {
    idle: Arc<Mutex<Vec<Connection>>>,
    /// One permit per idle connection: a read takes one before it takes a connection.
    free: Arc<Semaphore>,
}

impl Readers {
    /// Opens `count` read-only connections to the (migrated) database at `path`.
    pub fn open(path: &Path, count: usize) -> Result<Readers> {
        let connections = (0..count).map(|_| connect::reader(path)).collect::<Result<Vec<_>>>()?;
        Ok(Readers {
            idle: Arc::new(Mutex::new(connections)),
            free: Arc::new(Semaphore::new(count)),
        })
    }

    /// Runs `query` on a connection of its own, on the blocking pool. The query runs to its
    /// end even if the caller stops waiting, and the connection then goes back to the others.
    pub async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let permit = self.free.clone().acquire_owned().await.map_err(|_| StoreError::Closed)?;
        let idle = self.idle.clone();
        let run = tokio::task::spawn_blocking(move || {
            let lease = Lease::take(&idle, permit);
            query(lease.db.as_ref().expect("leased"))
        });
        match run.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(StoreError::Closed),
        }
    }
}

/// A connection taken from the idle ones, given back when dropped (a query that panics
/// gives it back too), and only then its permit.
struct Lease<'a> {
    idle: &'a Mutex<Vec<Connection>>,
    db: Option<Connection>,
    _permit: OwnedSemaphorePermit,
}

impl<'a> Lease<'a> {
    fn take(idle: &'a Mutex<Vec<Connection>>, permit: OwnedSemaphorePermit) -> Lease<'a> {
        let db = idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let db = Some(db.expect("a permit stands for an idle connection"));
        Lease { idle, db, _permit: permit }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(db) = self.db.take() {
            self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(db);
        }
    }
}

/// Decodes every row of a statement through `rows::Columns` (by column name).
pub(super) fn decode<T>(
    statement: &mut Statement<'_>,
    params: impl Params,
    each: impl Fn(&Positioned<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let columns = rows::positions(statement);
    statement
        .query_map(params, |row| Ok(each(&Positioned { row, columns: &columns })))?
        .map(|row| row?)
        .collect()
}

impl Reads for SqliteStore {
    async fn job(&self, id: JobId) -> Result<Option<JobRecord>> {
        self.reads.read(move |db| job(db, id)).await
    }

    async fn jobs(&self, filter: &JobFilter) -> Result<Vec<JobSummaryRecord>> {
        let filter = filter.clone();
        self.reads.read(move |db| jobs(db, &filter)).await
    }

    async fn count_matching(&self, filter: &JobFilter) -> Result<BTreeMap<JobState, u64>> {
        let filter = filter.clone();
        self.reads.read(move |db| count_matching(db, &filter)).await
    }

    async fn attempts(&self, ids: &[JobId]) -> Result<BTreeMap<JobId, Vec<AttemptRecord>>> {
        let ids = ids.to_vec();
        self.reads.read(move |db| attempts(db, &ids)).await
    }

    async fn briefs(&self, ids: &[JobId]) -> Result<Vec<JobBrief>> {
        let ids = ids.to_vec();
        self.reads.read(move |db| briefs(db, &ids)).await
    }

    async fn standings(&self, ids: &[JobId]) -> Result<Vec<JobStanding>> {
        let ids = ids.to_vec();
        self.reads.read(move |db| standings(db, &ids)).await
    }

    async fn jobs_by_id(&self, ids: &[JobId]) -> Result<Vec<JobRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = serde_json::to_string(ids).expect("integers serialise");
        self.reads.read(move |db| jobs_by_id(db, list)).await
    }

    async fn module(&self, hash_or_name: &str) -> Result<Option<ModuleRecord>> {
        let hash_or_name = hash_or_name.to_string();
        self.reads.read(move |db| module(db, &hash_or_name)).await
    }

    async fn modules(&self) -> Result<Vec<ModuleRecord>> {
        self.reads.read(modules).await
    }

    /// Kept in memory by the writer as changes commit.
    async fn counts(&self) -> Result<BTreeMap<JobState, u64>> {
        Ok(self.counts.lock().expect("counts lock").clone())
    }

    async fn next_due(&self, lane: &str) -> Result<Option<SystemTime>> {
        let lane = lane.to_string();
        self.reads.read(move |db| next_due(db, &lane)).await
    }

    async fn lane_counts(&self) -> Result<BTreeMap<String, LaneCount>> {
        self.reads.read(lane_counts).await
    }
}

fn job(db: &Connection, id: JobId) -> Result<Option<JobRecord>> {
    let mut statement = db.prepare_cached(JOB)?;
    Ok(decode(&mut statement, [id], |row| rows::job(row))?.into_iter().next())
}

/// A page of jobs as a listing shows them.
fn jobs(db: &Connection, filter: &JobFilter) -> Result<Vec<JobSummaryRecord>> {
    let clause = filter::clause(filter, Dialect::Sqlite, 2);
    let sql = filter::fill(JOBS, "{filter}", &clause.sql);
    let mut statement = db.prepare_cached(&sql)?;
    let limit = filter::Value::Int(filter.limit.into());
    let values = std::iter::once(&limit).chain(&clause.values);
    decode(&mut statement, params_from_iter(values), |row| summary::summary(row))
}

/// How many jobs the filter selects, by state (the count of a bulk action's dry run).
fn count_matching(db: &Connection, filter: &JobFilter) -> Result<BTreeMap<JobState, u64>> {
    let clause = filter::clause(filter, Dialect::Sqlite, 1);
    let sql = filter::fill(COUNT_MATCHING, "{filter}", &clause.sql);
    let found = db
        .prepare_cached(&sql)?
        .query_map(params_from_iter(&clause.values), |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows::state_counts(found)
}

/// The ended attempts of these jobs, oldest first per job.
fn attempts(db: &Connection, ids: &[JobId]) -> Result<BTreeMap<JobId, Vec<AttemptRecord>>> {
    let mut history: BTreeMap<JobId, Vec<AttemptRecord>> = BTreeMap::new();
    if ids.is_empty() {
        return Ok(history);
    }
    let list = serde_json::to_string(ids).expect("integers serialise");
    let mut statement = db.prepare_cached(ATTEMPTS)?;
    for (id, attempt) in decode(&mut statement, [list], |row| rows::attempt(row))? {
        history.entry(id).or_default().push(attempt);
    }
    Ok(history)
}

fn module(db: &Connection, hash_or_name: &str) -> Result<Option<ModuleRecord>> {
    let mut statement = db.prepare_cached(MODULE)?;
    Ok(decode(&mut statement, [hash_or_name], |row| rows::module(row))?.into_iter().next())
}

fn modules(db: &Connection) -> Result<Vec<ModuleRecord>> {
    let mut statement = db.prepare_cached(MODULES)?;
    decode(&mut statement, [], |row| rows::module(row))
}

/// Jobs per state, every state present (read once at open).
pub fn counts(db: &Connection) -> Result<BTreeMap<JobState, u64>> {
    let found = db
        .prepare_cached(COUNTS)?
        .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut counts: BTreeMap<JobState, u64> = JobState::ALL.into_iter().map(|s| (s, 0)).collect();
    for (state, count) in found {
        if let Ok(state) = state.parse() {
            counts.insert(state, count.max(0) as u64);
        }
    }
    Ok(counts)
}

/// The earliest time a queued job of the lane falls due, among those not due yet.
fn next_due(db: &Connection, lane: &str) -> Result<Option<SystemTime>> {
    let now = rows::micros(SystemTime::now());
    let due: Option<i64> =
        db.prepare_cached(NEXT_DUE)?.query_row(params![lane, now], |row| row.get(0))?;
    Ok(due.map(rows::time))
}

/// Queued and running jobs per lane.
fn lane_counts(db: &Connection) -> Result<BTreeMap<String, LaneCount>> {
    let found = db
        .prepare_cached(LANE_COUNTS)?
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, i64>(2)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows::lane_counts(found))
}

/// Jobs `list` (a JSON array of ids), every column.
fn jobs_by_id(db: &Connection, list: String) -> Result<Vec<JobRecord>> {
    let mut statement = db.prepare_cached(JOBS_BY_ID)?;
    decode(&mut statement, [list], |row| rows::job(row))
}

fn standings(db: &Connection, ids: &[JobId]) -> Result<Vec<JobStanding>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = serde_json::to_string(ids).expect("integers serialise");
    let found = db
        .prepare_cached(STANDINGS)?
        .query_map([list], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, i64>(2)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    found
        .into_iter()
        .map(|(id, state, bytes)| {
            Ok(JobStanding { id, state: rows::state(&state)?, output_bytes: bytes.max(0) as u64 })
        })
        .collect()
}

fn briefs(db: &Connection, ids: &[JobId]) -> Result<Vec<JobBrief>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = serde_json::to_string(ids).expect("integers serialise");
    let found = db
        .prepare_cached(BRIEFS)?
        .query_map([list], |row| {
            Ok(JobBrief {
                id: row.get(0)?,
                name: row.get(1)?,
                module_hash: row.get(2)?,
                module_name: row.get(3)?,
                timeout_ms: row.get::<_, i64>(4)?.max(0) as u64,
                progress: rows::progress(row.get(5)?, row.get(6)?),
                tenant: row.get(7)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(found)
}
