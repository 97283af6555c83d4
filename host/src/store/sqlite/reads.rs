//! Read-only queries, on a few read-only connections beside the writer (WAL lets them read
//! while it writes). Each read holds one connection on tokio's blocking pool; a read waits
//! for a connection only when all of them are busy.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rusqlite::{Connection, Params, Statement, params, params_from_iter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::connect;
use crate::store::filter::{self, Dialect};
use crate::store::rows::{self, JobBrief, JobRecord, ModuleRecord, Positioned};
use crate::store::summary::{self, JobSummaryRecord};
use crate::store::{
    AttemptRecord, JobFilter, JobId, LaneCount, Result, ScheduleRecord, StoreError,
};
use crate::wire::JobState;

/// Modules with their names as a JSON array.
pub(super) const MODULES: &str =
    "SELECT m.hash, m.kind, m.size, m.created_at, m.max_running, m.exports,
        (SELECT json_group_array(n.name) FROM module_names n WHERE n.hash = m.hash) AS names
    FROM modules m";

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

pub fn job(db: &Connection, id: JobId) -> Result<Option<JobRecord>> {
    let mut statement = db.prepare_cached("SELECT * FROM jobs WHERE id = ?")?;
    Ok(decode(&mut statement, [id], |row| rows::job(row))?.into_iter().next())
}

/// A page of jobs as a listing shows them.
pub fn jobs(db: &Connection, filter: &JobFilter) -> Result<Vec<JobSummaryRecord>> {
    let clause = filter::clause(filter, Dialect::Sqlite, 2);
    let sql = include_str!("sql/jobs.sql").replace("{filter}", &clause.sql);
    let mut statement = db.prepare_cached(&sql)?;
    let limit = filter::Value::Int(filter.limit.into());
    let values = std::iter::once(&limit).chain(&clause.values);
    decode(&mut statement, params_from_iter(values), |row| summary::summary(row))
}

/// How many jobs the filter selects, by state (the count of a bulk action's dry run).
pub fn count_matching(db: &Connection, filter: &JobFilter) -> Result<BTreeMap<JobState, u64>> {
    let clause = filter::clause(filter, Dialect::Sqlite, 1);
    let sql = include_str!("sql/count_matching.sql").replace("{filter}", &clause.sql);
    let found = db
        .prepare_cached(&sql)?
        .query_map(params_from_iter(&clause.values), |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows::state_counts(found)
}

/// The ended attempts of these jobs, oldest first per job.
pub fn attempts(db: &Connection, ids: &[JobId]) -> Result<BTreeMap<JobId, Vec<AttemptRecord>>> {
    let mut history: BTreeMap<JobId, Vec<AttemptRecord>> = BTreeMap::new();
    if ids.is_empty() {
        return Ok(history);
    }
    let list = serde_json::to_string(ids).expect("integers serialise");
    let mut statement = db.prepare_cached(
        "SELECT * FROM attempts WHERE job_id IN (SELECT value FROM json_each(?))
         ORDER BY job_id, attempt",
    )?;
    for (id, attempt) in decode(&mut statement, [list], |row| rows::attempt(row))? {
        history.entry(id).or_default().push(attempt);
    }
    Ok(history)
}

/// Every schedule, by name.
pub fn schedules(db: &Connection) -> Result<Vec<ScheduleRecord>> {
    let mut statement = db.prepare_cached("SELECT * FROM schedules ORDER BY name")?;
    decode(&mut statement, [], |row| rows::schedule(row))
}

/// How many schedules there are.
pub fn schedule_count(db: &Connection) -> Result<u64> {
    let count: i64 =
        db.prepare_cached("SELECT count(*) FROM schedules")?.query_row([], |row| row.get(0))?;
    Ok(count.max(0) as u64)
}

/// One schedule.
pub fn schedule(db: &Connection, name: &str) -> Result<Option<ScheduleRecord>> {
    let mut statement = db.prepare_cached("SELECT * FROM schedules WHERE name = ?")?;
    Ok(decode(&mut statement, [name], |row| rows::schedule(row))?.into_iter().next())
}

pub fn module(db: &Connection, hash_or_name: &str) -> Result<Option<ModuleRecord>> {
    let query = format!(
        "{MODULES} WHERE m.hash = ?1 OR m.hash = (SELECT hash FROM module_names WHERE name = ?1)"
    );
    let mut statement = db.prepare_cached(&query)?;
    Ok(decode(&mut statement, [hash_or_name], |row| rows::module(row))?.into_iter().next())
}

pub fn modules(db: &Connection) -> Result<Vec<ModuleRecord>> {
    let mut statement = db.prepare_cached(&format!("{MODULES} ORDER BY m.created_at DESC"))?;
    decode(&mut statement, [], |row| rows::module(row))
}

pub fn counts(db: &Connection) -> Result<BTreeMap<JobState, u64>> {
    let found = db
        .prepare_cached("SELECT state, count(*) FROM jobs GROUP BY state")?
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
pub fn next_due(db: &Connection, lane: &str) -> Result<Option<SystemTime>> {
    let now = rows::micros(SystemTime::now());
    let due: Option<i64> = db
        .prepare_cached(
            "SELECT min(not_before) FROM jobs INDEXED BY jobs_due
             WHERE lane = ? AND state = 'queued' AND not_before > ?",
        )?
        .query_row(params![lane, now], |row| row.get(0))?;
    Ok(due.map(rows::time))
}

/// Queued and running jobs per lane.
pub fn lane_counts(db: &Connection) -> Result<BTreeMap<String, LaneCount>> {
    let found = db
        .prepare_cached(
            "SELECT lane, state, count(*) FROM jobs INDEXED BY jobs_by_state
             WHERE state IN ('queued', 'running') GROUP BY lane, state",
        )?
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, i64>(2)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows::lane_counts(found))
}

pub fn briefs(db: &Connection, ids: &[JobId]) -> Result<Vec<JobBrief>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = serde_json::to_string(ids).expect("integers serialise");
    let found = db
        .prepare_cached(
            "SELECT j.id, j.name, j.module_hash,
                    (SELECT min(n.name) FROM module_names n WHERE n.hash = j.module_hash),
                    j.timeout_ms, j.progress_percent, j.progress_message
             FROM jobs j WHERE j.id IN (SELECT value FROM json_each(?))",
        )?
        .query_map([list], |row| {
            Ok(JobBrief {
                id: row.get(0)?,
                name: row.get(1)?,
                module_hash: row.get(2)?,
                module_name: row.get(3)?,
                timeout_ms: row.get::<_, i64>(4)?.max(0) as u64,
                progress: rows::progress(row.get(5)?, row.get(6)?),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(found)
}

pub fn queue_len(db: &Connection, name: &str) -> Result<u64> {
    let n: i64 = db
        .prepare_cached("SELECT count(*) FROM queue_items WHERE queue = ?")?
        .query_row([name], |row| row.get(0))?;
    Ok(n.max(0) as u64)
}
