//! The dashboard's reads (see `store/stats.rs`): one statement each, percentiles by
//! `percentile_disc` (nearest rank, as the SQLite backend computes them).

use std::time::{Duration, SystemTime};

use sqlx::Row;

use super::PgStore;
use crate::store::Result;
use crate::store::backend::Stats;
use crate::store::rows::{self, micros};
use crate::store::stats::{self, Bucket, LastFailure, ModuleStats, QueueStat};

const MODULE_STATS: &str = include_str!("sql/module_stats.sql");
const HISTORY: &str = include_str!("sql/history.sql");
const QUEUES: &str = include_str!("sql/queues.sql");

impl Stats for PgStore {
    async fn module_stats(&self) -> Result<Vec<ModuleStats>> {
        let found = sqlx::query(MODULE_STATS).fetch_all(self.pool()).await?;
        found
            .iter()
            .map(|row| {
                let runs = row.try_get::<i64, _>("runs")?.max(0) as u64;
                let succeeded = row.try_get::<i64, _>("succeeded")?.max(0) as u64;
                let last_id: Option<i64> = row.try_get("last_failed_id")?;
                let last_failure = match last_id {
                    Some(job_id) => Some(LastFailure {
                        job_id,
                        error: row.try_get("last_error")?,
                        finished_at: rows::time(row.try_get("last_failed_at")?),
                    }),
                    None => None,
                };
                let percentile = |column: &str| -> Result<Option<Duration>> {
                    Ok(row.try_get::<Option<i64>, _>(column)?.map(stats::duration))
                };
                Ok(ModuleStats {
                    hash: row.try_get("module_hash")?,
                    runs,
                    succeeded,
                    failed: runs - succeeded,
                    p50: percentile("p50")?,
                    p95: percentile("p95")?,
                    last_failure,
                })
            })
            .collect()
    }

    async fn history(&self, from: SystemTime, width: Duration, count: u32) -> Result<Vec<Bucket>> {
        let start = micros(from);
        let step = (width.as_micros() as i64).max(1);
        let found: Vec<(i64, i64, i64)> = sqlx::query_as(HISTORY)
            .bind(start)
            .bind(step)
            .bind(start + step * i64::from(count))
            .fetch_all(self.pool())
            .await?;
        let found = found.into_iter().map(|(i, ok, bad)| (i, ok.max(0) as u64, bad.max(0) as u64));
        Ok(stats::fill(from, width, count, found))
    }

    async fn queues(&self) -> Result<Vec<QueueStat>> {
        let found: Vec<(String, i64, i64)> = sqlx::query_as(QUEUES).fetch_all(self.pool()).await?;
        Ok(found
            .into_iter()
            .map(|(name, length, age)| QueueStat {
                name,
                length: length.max(0) as u64,
                oldest_age: stats::duration(age),
            })
            .collect())
    }
}
