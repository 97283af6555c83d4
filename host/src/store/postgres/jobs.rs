//! One job's changes: submissions, a job's cancel, retry and delete, giving attempts back,
//! purging old jobs, progress reports. Each is one transaction; a job's row is locked before
//! its state decides anything.

use std::time::SystemTime;

use sqlx::{Postgres, Transaction};

use wasmpool_protocol::workflow::WorkflowLimits;

use super::{PgStore, columns, workflows};
use crate::store::backend::Jobs;
use crate::store::backend::Workflows;
use crate::store::changes::Changes;
use crate::store::filter;
use crate::store::new_job::JobColumns;
use crate::store::rows::{self, micros};
use crate::store::rules;
use crate::store::workflow;
use crate::store::{
    Attempt, Cancel, Change, JobId, JobState, NewJob, Recovered, Result, Running, StoreError,
};

const MODULES_KNOWN: &str = include_str!("sql/modules_known.sql");
const INSERT: &str = include_str!("sql/insert.sql");
const INSERT_KEYED: &str = include_str!("sql/insert_keyed.sql");
const JOB_BY_KEY: &str = include_str!("sql/job_by_key.sql");
const JOB_STATE: &str = include_str!("sql/job_state.sql");
pub(super) const CANCEL: &str = include_str!("sql/cancel.sql");
pub(super) const RETRY: &str = include_str!("sql/retry.sql");
const DELETE_JOB: &str = include_str!("sql/delete_job.sql");
const DELETE_JOB_HISTORY: &str = include_str!("sql/delete_job_history.sql");
const RELEASE: &str = include_str!("sql/release.sql");
const PURGE: &str = include_str!("sql/purge.sql");
const PROGRESS: &str = include_str!("sql/progress.sql");
const WAITED_ON: &str = include_str!("sql/waited_on.sql");
const DELETE_JOB_EDGES: &str = include_str!("sql/delete_job_edges.sql");

impl Jobs for PgStore {
    async fn submit(&self, jobs: Vec<NewJob>) -> Result<Vec<(JobId, JobState)>> {
        if workflow::has_edges(&jobs) {
            return self.submit_workflow(jobs, WorkflowLimits::default()).await;
        }
        let mut tx = self.pool().begin().await?;
        let mut modules: Vec<&str> = jobs.iter().map(|job| job.module_hash.as_str()).collect();
        modules.sort_unstable();
        modules.dedup();
        let known: Vec<String> =
            sqlx::query_scalar(MODULES_KNOWN).bind(&modules).fetch_all(&mut *tx).await?;
        if let Some(missing) = modules.iter().find(|hash| !known.iter().any(|k| k == *hash)) {
            return Err(StoreError::UnknownModule(missing.to_string()));
        }
        let mut changes = Changes::default();
        let mut accepted = Vec::with_capacity(jobs.len());
        let mut rest = jobs.as_slice();
        while !rest.is_empty() {
            let run = rest.iter().take_while(|job| job.idempotency_key.is_none()).count();
            if run == 0 {
                accepted.push(insert_keyed(&mut tx, &rest[0], &mut changes).await?);
                rest = &rest[1..];
            } else {
                accepted.extend(insert(&mut tx, &rest[..run], &mut changes).await?);
                rest = &rest[run..];
            }
        }
        self.commit(tx, changes).await?;
        Ok(accepted)
    }

    async fn cancel(&self, id: JobId) -> Result<Cancel> {
        let mut tx = self.pool().begin().await?;
        let Some(state) = lock_state(&mut tx, id).await? else { return Ok(Cancel::NotFound) };
        if let Some(refused) = rules::cancel_refused(state) {
            return Ok(refused);
        }
        let (_, capped): (i64, bool) = sqlx::query_as(&filter::fill(CANCEL, "{where}", "id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let mut changes = Changes::default();
        changes.became(id, JobState::Cancelled);
        if capped && state == JobState::Running {
            changes.freed += 1;
        }
        workflows::ended(&mut tx, vec![id], &mut changes).await?;
        self.commit(tx, changes).await?;
        Ok(Cancel::Cancelled(state))
    }

    async fn retry(&self, id: JobId) -> Result<Change> {
        let mut tx = self.pool().begin().await?;
        let Some(state) = lock_state(&mut tx, id).await? else { return Ok(Change::NotFound) };
        if let Some(refused) = rules::retry_refused(state) {
            return Ok(refused);
        }
        sqlx::query(&filter::fill(RETRY, "{where}", "id = $1")).bind(id).execute(&mut *tx).await?;
        let mut changes = Changes::default();
        changes.became(id, JobState::Queued);
        self.commit(tx, changes).await?;
        Ok(Change::Done)
    }

    async fn delete_job(&self, id: JobId) -> Result<Change> {
        let mut tx = self.pool().begin().await?;
        let Some(state) = lock_state(&mut tx, id).await? else { return Ok(Change::NotFound) };
        if let Some(refused) = rules::delete_refused(state) {
            return Ok(refused);
        }
        let waiting: Option<i64> =
            sqlx::query_scalar(WAITED_ON).bind(id).fetch_optional(&mut *tx).await?;
        if let Some(child) = waiting {
            return Ok(Change::WaitedOn(child));
        }
        sqlx::query(DELETE_JOB).bind(id).execute(&mut *tx).await?;
        sqlx::query(DELETE_JOB_HISTORY).bind(id).execute(&mut *tx).await?;
        sqlx::query(DELETE_JOB_EDGES).bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        self.forget_counts();
        Ok(Change::Done)
    }

    async fn release(&self, attempts: Vec<Attempt>) -> Result<()> {
        if attempts.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool().begin().await?;
        let (ids, numbers, nodes) = columns(&attempts);
        let released: Vec<i64> = sqlx::query_scalar(RELEASE)
            .bind(ids)
            .bind(numbers)
            .bind(nodes)
            .fetch_all(&mut *tx)
            .await?;
        let mut changes = Changes::default();
        released.into_iter().for_each(|id| changes.became(id, JobState::Queued));
        self.commit(tx, changes).await
    }

    /// Nothing to recover: a dead host's jobs are rescued by the live ones (`Cluster::rescue`).
    async fn recover(&self) -> Result<Recovered> {
        Ok(Recovered::default())
    }

    async fn purge(&self, cutoff: SystemTime) -> Result<u64> {
        let purged =
            sqlx::query(PURGE).bind(micros(cutoff)).execute(self.pool()).await?.rows_affected();
        if purged > 0 {
            self.forget_counts();
        }
        Ok(purged)
    }

    /// Only the attempt this host runs may report progress.
    async fn progress(&self, by: Running, percent: u8, message: String) -> Result<()> {
        sqlx::query(PROGRESS)
            .bind(i64::from(percent.min(100)))
            .bind(message)
            .bind(by.id)
            .bind(i64::from(by.attempt))
            .bind(self.me())
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

/// Locks a job's row and reads its state.
async fn lock_state(tx: &mut Transaction<'_, Postgres>, id: JobId) -> Result<Option<JobState>> {
    let state: Option<String> =
        sqlx::query_scalar(JOB_STATE).bind(id).fetch_optional(&mut **tx).await?;
    state.map(|state| rows::state(&state)).transpose()
}

/// One array per column of a batch of new jobs.
fn array<'a, T>(jobs: &'a [JobColumns<'a>], column: impl Fn(&'a JobColumns<'a>) -> T) -> Vec<T> {
    jobs.iter().map(column).collect()
}

/// Inserts a batch of jobs without idempotency keys: one array per column of `insert.sql`.
pub(super) async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    jobs: &[NewJob],
    changes: &mut Changes,
) -> Result<Vec<(JobId, JobState)>> {
    let new: Vec<JobColumns<'_>> = jobs.iter().map(JobColumns::of).collect();
    insert_rows(tx, &new, changes).await
}

/// Inserts rows: one array per column of `insert.sql`; returns their ids and states.
pub(super) async fn insert_rows(
    tx: &mut Transaction<'_, Postgres>,
    new: &[JobColumns<'_>],
    changes: &mut Changes,
) -> Result<Vec<(JobId, JobState)>> {
    let ids: Vec<i64> = sqlx::query_scalar(INSERT)
        .bind(array(new, |job| job.name))
        .bind(array(new, |job| job.module_hash))
        .bind(array(new, |job| job.args.as_str()))
        .bind(array(new, |job| job.env.as_str()))
        .bind(array(new, |job| job.stdin))
        .bind(array(new, |job| job.priority))
        .bind(array(new, |job| job.timeout_ms))
        .bind(array(new, |job| job.memory_mb))
        .bind(array(new, |job| job.fuel))
        .bind(array(new, |job| job.max_attempts))
        .bind(array(new, |job| job.delay_us))
        .bind(array(new, |job| job.argv0))
        .bind(array(new, |job| job.job_env))
        .bind(array(new, |job| job.module_name))
        .bind(array(new, |job| job.lane))
        .bind(array(new, |job| job.call_function))
        .bind(array(new, |job| job.call_params))
        .bind(array(new, |job| job.state))
        .bind(array(new, |job| job.workflow_id))
        .bind(array(new, |job| job.waiting_on))
        .bind(array(new, |job| job.on_parent_failure))
        .bind(array(new, |job| job.error))
        .bind(array(new, |job| job.stdin_from_parents))
        .bind(array(new, |job| job.mounts.as_deref()))
        .bind(array(new, |job| job.tenant))
        .bind(array(new, |job| job.concurrency_key.as_deref()))
        .bind(array(new, |job| job.concurrency_limit))
        .bind(array(new, |job| job.rate_limits.as_deref()))
        .fetch_all(&mut **tx)
        .await?;
    let ids = rows::in_insert_order(ids, new.len())?;
    ids.into_iter()
        .zip(new)
        .map(|(id, job)| {
            let state = rows::state(job.state)?;
            changes.became(id, state);
            Ok((id, state))
        })
        .collect()
}

/// Inserts a job with an idempotency key, or finds the earlier job with that key.
async fn insert_keyed(
    tx: &mut Transaction<'_, Postgres>,
    job: &NewJob,
    changes: &mut Changes,
) -> Result<(JobId, JobState)> {
    let row = JobColumns::of(job);
    let id: Option<i64> = sqlx::query_scalar(INSERT_KEYED)
        .bind(row.name)
        .bind(row.module_hash)
        .bind(&row.args)
        .bind(&row.env)
        .bind(row.stdin)
        .bind(row.priority)
        .bind(row.timeout_ms)
        .bind(row.memory_mb)
        .bind(row.fuel)
        .bind(row.max_attempts)
        .bind(row.idempotency_key)
        .bind(row.delay_us)
        .bind(row.argv0)
        .bind(row.job_env)
        .bind(row.module_name)
        .bind(row.lane)
        .bind(row.call_function)
        .bind(row.call_params)
        .bind(row.mounts.as_deref())
        .bind(row.tenant)
        .bind(row.concurrency_key.as_deref())
        .bind(row.concurrency_limit)
        .bind(row.rate_limits.as_deref())
        .fetch_optional(&mut **tx)
        .await?;
    if let Some(id) = id {
        changes.became(id, JobState::Queued);
        return Ok((id, JobState::Queued));
    }
    let (id, state): (i64, String) =
        sqlx::query_as(JOB_BY_KEY).bind(row.idempotency_key).fetch_one(&mut **tx).await?;
    Ok((id, rows::state(&state)?))
}
