//! The dashboard's reads (see `store/stats.rs`), on a read connection. Percentiles are taken
//! here from the run times the index `jobs_runs` holds: SQLite has no percentile aggregate,
//! and its window functions cost several times the scan.

use std::time::{Duration, SystemTime};

use rusqlite::{Connection, params};

use super::SqliteStore;
use crate::store::Result;
use crate::store::backend::Stats;
use crate::store::rows::{self, micros};
use crate::store::stats::{self, Bucket, LastFailure, ModuleStats, QueueStat};

const MODULE_RUNS: &str = include_str!("sql/module_runs.sql");
const RUN_TIMES: &str = include_str!("sql/run_times.sql");
const LAST_FAILURE: &str = include_str!("sql/last_failure.sql");
const HISTORY: &str = include_str!("sql/history.sql");
const QUEUES: &str = include_str!("sql/queues.sql");

impl Stats for SqliteStore {
    async fn queues(&self) -> Result<Vec<QueueStat>> {
        self.reads.read(queues).await
    }

    async fn module_stats(&self) -> Result<Vec<ModuleStats>> {
        self.reads.read(module_stats).await
    }

    async fn history(&self, from: SystemTime, width: Duration, count: u32) -> Result<Vec<Bucket>> {
        self.reads.read(move |db| history(db, from, width, count)).await
    }
}

fn module_stats(db: &Connection) -> Result<Vec<ModuleStats>> {
    let found = db
        .prepare_cached(MODULE_RUNS)?
        .query_map([], |row| {
            let runs = row.get::<_, i64>(1)?.max(0) as u64;
            let succeeded = row.get::<_, i64>(2)?.max(0) as u64;
            Ok((row.get::<_, String>(0)?, runs, succeeded, row.get::<_, Option<i64>>(3)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    found
        .into_iter()
        .map(|(hash, runs, succeeded, last_failed_at)| -> Result<ModuleStats> {
            let mut times = db
                .prepare_cached(RUN_TIMES)?
                .query_map([&hash], |row| row.get::<_, i64>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let last_failure = match last_failed_at {
                Some(at) => last_failure(db, &hash, at)?,
                None => None,
            };
            Ok(ModuleStats {
                runs,
                succeeded,
                failed: runs - succeeded,
                p50: stats::nearest_rank(&mut times, 50).map(stats::duration),
                p95: stats::nearest_rank(&mut times, 95).map(stats::duration),
                last_failure,
                hash,
            })
        })
        .collect()
}

fn last_failure(db: &Connection, hash: &str, at: i64) -> Result<Option<LastFailure>> {
    let mut statement = db.prepare_cached(LAST_FAILURE)?;
    let mut found = statement.query_map(params![hash, at], |row| {
        Ok(LastFailure { job_id: row.get(0)?, error: row.get(1)?, finished_at: rows::time(at) })
    })?;
    Ok(found.next().transpose()?)
}

fn history(db: &Connection, from: SystemTime, width: Duration, count: u32) -> Result<Vec<Bucket>> {
    let start = micros(from);
    let step = (width.as_micros() as i64).max(1);
    let end = start + step * i64::from(count);
    let found = db
        .prepare_cached(HISTORY)?
        .query_map(params![start, step, end], |row| {
            let count = |i: usize| Ok::<_, rusqlite::Error>(row.get::<_, i64>(i)?.max(0) as u64);
            Ok((row.get::<_, i64>(0)?, count(1)?, count(2)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(stats::fill(from, width, count, found))
}

/// Items are stamped with this host's clock, so their age is measured with it too.
fn queues(db: &Connection) -> Result<Vec<QueueStat>> {
    let now = micros(SystemTime::now());
    let found = db
        .prepare_cached(QUEUES)?
        .query_map([], |row| {
            Ok(QueueStat {
                name: row.get(0)?,
                length: row.get::<_, i64>(1)?.max(0) as u64,
                oldest_age: stats::duration(now - row.get::<_, i64>(2)?),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(found)
}
