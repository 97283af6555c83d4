//! Jobs and modules as the API reads them, on the pool. Counts per state are a `GROUP BY`
//! over the whole cluster, cached for [`COUNTS_FRESH`].

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime};

use sqlx::Row;
use sqlx::postgres::PgRow;

use super::{PgStore, bind};
use crate::store::backend::Reads;
use crate::store::filter::{self, Dialect};
use crate::store::rows;
use crate::store::{
    AttemptRecord, JobBrief, JobFilter, JobId, JobRecord, JobStanding, JobState, JobSummaryRecord,
    LaneCount, ModuleRecord, Result,
};

const JOB: &str = include_str!("sql/job.sql");
const JOBS: &str = include_str!("sql/jobs.sql");
const COUNT_MATCHING: &str = include_str!("sql/count_matching.sql");
const ATTEMPTS: &str = include_str!("sql/attempts.sql");
const BRIEFS: &str = include_str!("sql/briefs.sql");
const STANDINGS: &str = include_str!("sql/standings.sql");
const JOBS_BY_ID: &str = include_str!("sql/jobs_by_id.sql");
const MODULE: &str = include_str!("sql/module.sql");
const MODULES: &str = include_str!("sql/modules.sql");
const COUNTS: &str = include_str!("sql/counts.sql");
const NEXT_DUE: &str = include_str!("sql/next_due.sql");
const LANE_COUNTS: &str = include_str!("sql/lane_counts.sql");

/// Counts per state are recounted at most this often; calls in between get the last count.
const COUNTS_FRESH: std::time::Duration = std::time::Duration::from_millis(250);

impl Reads for PgStore {
    async fn job(&self, id: JobId) -> Result<Option<JobRecord>> {
        let row = sqlx::query(JOB).bind(id).fetch_optional(self.pool()).await?;
        row.as_ref().map(rows::job).transpose()
    }

    async fn jobs(&self, filter: &JobFilter) -> Result<Vec<JobSummaryRecord>> {
        let clause = filter::clause(filter, Dialect::Postgres, 2);
        let sql = filter::fill(JOBS, "{filter}", &clause.sql);
        let query = sqlx::query(&sql).bind(i64::from(filter.limit));
        let found = bind(query, &clause.values).fetch_all(self.pool()).await?;
        found.iter().map(crate::store::summary::summary).collect()
    }

    async fn count_matching(&self, filter: &JobFilter) -> Result<BTreeMap<JobState, u64>> {
        let clause = filter::clause(filter, Dialect::Postgres, 1);
        let sql = filter::fill(COUNT_MATCHING, "{filter}", &clause.sql);
        let found = bind(sqlx::query(&sql), &clause.values).fetch_all(self.pool()).await?;
        let found = found
            .iter()
            .map(|row| Ok((row.try_get::<String, _>("state")?, row.try_get::<i64, _>("n")?)))
            .collect::<Result<Vec<_>>>()?;
        rows::state_counts(found)
    }

    async fn attempts(&self, ids: &[JobId]) -> Result<BTreeMap<JobId, Vec<AttemptRecord>>> {
        let mut history: BTreeMap<JobId, Vec<AttemptRecord>> = BTreeMap::new();
        if ids.is_empty() {
            return Ok(history);
        }
        for row in sqlx::query(ATTEMPTS).bind(ids).fetch_all(self.pool()).await? {
            let (id, attempt) = rows::attempt(&row)?;
            history.entry(id).or_default().push(attempt);
        }
        Ok(history)
    }

    async fn briefs(&self, ids: &[JobId]) -> Result<Vec<JobBrief>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let found = sqlx::query(BRIEFS).bind(ids).fetch_all(self.pool()).await?;
        found.iter().map(brief).collect()
    }

    async fn standings(&self, ids: &[JobId]) -> Result<Vec<JobStanding>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let found = sqlx::query(STANDINGS).bind(ids).fetch_all(self.pool()).await?;
        let standing = |row: &PgRow| {
            Ok(JobStanding {
                id: row.try_get("id")?,
                state: rows::state(&row.try_get::<String, _>("state")?)?,
                output_bytes: row.try_get::<i64, _>("output_bytes")?.max(0) as u64,
            })
        };
        found.iter().map(standing).collect()
    }

    async fn jobs_by_id(&self, ids: &[JobId]) -> Result<Vec<JobRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let found = sqlx::query(JOBS_BY_ID).bind(ids).fetch_all(self.pool()).await?;
        found.iter().map(rows::job).collect()
    }

    async fn module(&self, hash_or_name: &str) -> Result<Option<ModuleRecord>> {
        let row = sqlx::query(MODULE).bind(hash_or_name).fetch_optional(self.pool()).await?;
        row.as_ref().map(rows::module).transpose()
    }

    async fn modules(&self) -> Result<Vec<ModuleRecord>> {
        let found = sqlx::query(MODULES).fetch_all(self.pool()).await?;
        found.iter().map(rows::module).collect()
    }

    /// Counted by the database (every host's jobs), at most every [`COUNTS_FRESH`].
    async fn counts(&self) -> Result<BTreeMap<JobState, u64>> {
        if let Some((at, counts)) = &*self.inner.counts.lock().expect("counts lock")
            && at.elapsed() < COUNTS_FRESH
        {
            return Ok(counts.clone());
        }
        let found: Vec<(String, i64)> = sqlx::query_as(COUNTS).fetch_all(self.pool()).await?;
        let mut counts: BTreeMap<JobState, u64> =
            JobState::ALL.into_iter().map(|s| (s, 0)).collect();
        for (state, count) in found {
            if let Ok(state) = state.parse() {
                counts.insert(state, count.max(0) as u64);
            }
        }
        *self.inner.counts.lock().expect("counts lock") = Some((Instant::now(), counts.clone()));
        Ok(counts)
    }

    /// The earliest time a queued job of the lane falls due, among those not due yet.
    async fn next_due(&self, lane: &str) -> Result<Option<SystemTime>> {
        let due: Option<i64> =
            sqlx::query_scalar(NEXT_DUE).bind(lane).fetch_one(self.pool()).await?;
        Ok(due.map(rows::time))
    }

    async fn lane_counts(&self) -> Result<BTreeMap<String, LaneCount>> {
        let found: Vec<(String, String, i64)> =
            sqlx::query_as(LANE_COUNTS).fetch_all(self.pool()).await?;
        Ok(rows::lane_counts(found))
    }
}

fn brief(row: &PgRow) -> Result<JobBrief> {
    Ok(JobBrief {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        module_hash: row.try_get("module_hash")?,
        module_name: row.try_get("module_name")?,
        timeout_ms: row.try_get::<i64, _>("timeout_ms")?.max(0) as u64,
        progress: rows::progress(
            row.try_get("progress_percent")?,
            row.try_get("progress_message")?,
        ),
        tenant: row.try_get("tenant")?,
    })
}
