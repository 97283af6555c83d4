//! Jobs on the writer's connection: submissions, a job's cancel, retry and delete, giving
//! attempts back, recovery after a restart, purging old jobs, progress reports.

use std::collections::HashSet;
use std::time::SystemTime;

use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use wasmpool_protocol::workflow::WorkflowLimits;

use super::values::{blob, int, multi_row, now, opt_int, opt_text, text};
use super::writer::Kind::{Bookkeeping, Promised};
use super::{SqliteStore, workflows};
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

const MODULE_KNOWN: &str = include_str!("sql/module_known.sql");
const JOB_BY_KEY: &str = include_str!("sql/job_by_key.sql");
const INSERT: &str = include_str!("sql/insert.sql");
const JOB_STATE: &str = include_str!("sql/job_state.sql");
pub(super) const CANCEL: &str = include_str!("sql/cancel.sql");
pub(super) const RETRY: &str = include_str!("sql/retry.sql");
const DELETE_JOB: &str = include_str!("sql/delete_job.sql");
const DELETE_JOB_HISTORY: &str = include_str!("sql/delete_job_history.sql");
const RELEASE: &str = include_str!("sql/release.sql");
const RECOVER_RELEASED: &str = include_str!("sql/recover_released.sql");
const RECOVER_REQUEUED: &str = include_str!("sql/recover_requeued.sql");
const RECOVER_FAILED: &str = include_str!("sql/recover_failed.sql");
const PURGE_HISTORY: &str = include_str!("sql/purge_history.sql");
const PURGE: &str = include_str!("sql/purge.sql");
const PROGRESS: &str = include_str!("sql/progress.sql");
const WAITED_ON: &str = include_str!("sql/waited_on.sql");
const DELETE_JOB_EDGES: &str = include_str!("sql/delete_job_edges.sql");

impl Jobs for SqliteStore {
    async fn submit(&self, jobs: Vec<NewJob>) -> Result<Vec<(JobId, JobState)>> {
        if workflow::has_edges(&jobs) {
            return self.submit_workflow(jobs, WorkflowLimits::default()).await;
        }
        self.write(Promised, move |db, changes, _| submit(db, &jobs, changes)).await
    }

    async fn cancel(&self, id: JobId) -> Result<Cancel> {
        self.write(Promised, move |db, changes, _| cancel(db, id, changes)).await
    }

    async fn retry(&self, id: JobId) -> Result<Change> {
        self.write(Promised, move |db, changes, _| retry(db, id, changes)).await
    }

    async fn delete_job(&self, id: JobId) -> Result<Change> {
        self.write(Promised, move |db, changes, _| delete_job(db, id, changes)).await
    }

    async fn release(&self, attempts: Vec<Attempt>) -> Result<()> {
        self.write(Promised, move |db, changes, _| release(db, &attempts, changes)).await
    }

    async fn recover(&self) -> Result<Recovered> {
        self.write(Promised, |db, changes, _| recover(db, changes)).await
    }

    async fn purge(&self, cutoff: SystemTime) -> Result<u64> {
        self.write(Promised, move |db, changes, _| purge(db, cutoff, changes)).await
    }

    async fn progress(&self, by: Running, percent: u8, message: String) -> Result<()> {
        self.write(Bookkeeping, move |db, _, _| progress(db, by, percent, &message)).await
    }
}

/// Accepts a submission: refused (before it writes anything) if a job names an unknown
/// module; a job whose idempotency key was seen before answers with the earlier job.
fn submit(
    db: &Connection,
    jobs: &[NewJob],
    changes: &mut Changes,
) -> Result<Vec<(JobId, JobState)>> {
    unknown_module(db, jobs)?;
    let mut accepted = Vec::with_capacity(jobs.len());
    let submitted_at = now();
    let mut rest = jobs;
    while let Some(job) = rest.first() {
        if let Some(key) = &job.idempotency_key {
            let earlier = db
                .prepare_cached(JOB_BY_KEY)?
                .query_map([key], |row| Ok((row.get::<_, JobId>(0)?, row.get::<_, String>(1)?)))?
                .next()
                .transpose()?;
            match earlier {
                Some((id, state)) => accepted.push((id, rows::state(&state)?)),
                None => accepted.extend(insert(db, &rest[..1], submitted_at, changes)?),
            }
            rest = &rest[1..];
            continue;
        }
        // A run of jobs without keys goes in with one statement per chunk.
        let run =
            rest.iter().take(INSERT_CHUNK).take_while(|job| job.idempotency_key.is_none()).count();
        accepted.extend(insert(db, &rest[..run], submitted_at, changes)?);
        rest = &rest[run..];
    }
    Ok(accepted)
}

/// Whether module `hash` is stored.
pub(super) fn module_known(db: &Connection, hash: &str) -> Result<bool> {
    Ok(db.prepare_cached(MODULE_KNOWN)?.exists([hash])?)
}

/// `UnknownModule` if a job names a module the store does not have.
pub(super) fn unknown_module(db: &Connection, jobs: &[NewJob]) -> Result<()> {
    let mut known_modules = HashSet::new();
    for job in jobs {
        if known_modules.insert(job.module_hash.as_str()) && !module_known(db, &job.module_hash)? {
            return Err(StoreError::UnknownModule(job.module_hash.clone()));
        }
    }
    Ok(())
}

/// Jobs inserted by one statement at most.
pub(super) const INSERT_CHUNK: usize = 64;

/// Inserts jobs with one multi-row statement; returns their ids in order.
pub(super) fn insert(
    db: &Connection,
    jobs: &[NewJob],
    submitted_at: i64,
    changes: &mut Changes,
) -> Result<Vec<(JobId, JobState)>> {
    let columns: Vec<JobColumns<'_>> = jobs.iter().map(JobColumns::of).collect();
    insert_rows(db, &columns, submitted_at, changes)
}

/// Inserts rows with one multi-row statement; returns their ids and states in order.
pub(super) fn insert_rows(
    db: &Connection,
    columns: &[JobColumns<'_>],
    submitted_at: i64,
    changes: &mut Changes,
) -> Result<Vec<(JobId, JobState)>> {
    const COLUMNS: usize = 31;
    let mut values = Vec::with_capacity(columns.len() * COLUMNS);
    for job in columns {
        let state = rows::state(job.state)?;
        values.extend([
            opt_text(job.name),
            text(job.module_hash),
            text(&job.args),
            text(&job.env),
            blob(job.stdin),
            int(job.priority),
            int(job.timeout_ms),
            int(job.memory_mb),
            opt_int(job.fuel),
            int(job.max_attempts),
            opt_text(job.idempotency_key),
            text(job.state),
            int(submitted_at + job.delay_us),
            int(submitted_at),
            opt_text(job.argv0),
            int(job.job_env.into()),
            opt_text(job.module_name),
            text(job.lane),
            opt_text(job.call_function),
            opt_text(job.call_params),
            opt_int(job.workflow_id),
            int(job.waiting_on),
            opt_text(job.on_parent_failure),
            opt_text(job.error),
            opt_int(state.is_terminal().then_some(submitted_at)),
            int(job.stdin_from_parents.into()),
            opt_text(job.mounts.as_deref()),
            text(job.tenant),
            opt_text(job.concurrency_key.as_deref()),
            opt_int(job.concurrency_limit),
            opt_text(job.rate_limits.as_deref()),
        ]);
    }
    let ids = db
        .prepare_cached(&multi_row(INSERT, columns.len(), COLUMNS))?
        .query_map(params_from_iter(values), |row| row.get::<_, JobId>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let ids = rows::in_insert_order(ids, columns.len())?;
    ids.into_iter()
        .zip(columns)
        .map(|(id, job)| {
            let state = rows::state(job.state)?;
            changes.moved(id, None, state);
            Ok((id, state))
        })
        .collect()
}

fn job_state(db: &Connection, id: JobId) -> Result<Option<JobState>> {
    let state = db
        .prepare_cached(JOB_STATE)?
        .query_map([id], |row| row.get::<_, String>(0))?
        .next()
        .transpose()?;
    state.map(|state| rows::state(&state)).transpose()
}

fn cancel(db: &Connection, id: JobId, changes: &mut Changes) -> Result<Cancel> {
    let Some(state) = job_state(db, id)? else { return Ok(Cancel::NotFound) };
    if let Some(refused) = rules::cancel_refused(state) {
        return Ok(refused);
    }
    let capped: Option<bool> = db
        .prepare_cached(&filter::fill(CANCEL, "{where}", "id = ?2"))?
        .query_row(params![now(), id], |row| row.get(1))?;
    if state == JobState::Running && capped == Some(true) {
        changes.freed += 1;
    }
    changes.moved(id, Some(state), JobState::Cancelled);
    workflows::ended(db, vec![id], changes)?;
    Ok(Cancel::Cancelled(state))
}

fn retry(db: &Connection, id: JobId, changes: &mut Changes) -> Result<Change> {
    let Some(state) = job_state(db, id)? else { return Ok(Change::NotFound) };
    if let Some(refused) = rules::retry_refused(state) {
        return Ok(refused);
    }
    db.prepare_cached(&filter::fill(RETRY, "{where}", "id = ?2"))?
        .query_map(params![now(), id], |_| Ok(()))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    changes.moved(id, Some(state), JobState::Queued);
    Ok(Change::Done)
}

fn delete_job(db: &Connection, id: JobId, changes: &mut Changes) -> Result<Change> {
    let Some(state) = job_state(db, id)? else { return Ok(Change::NotFound) };
    if let Some(refused) = rules::delete_refused(state) {
        return Ok(refused);
    }
    let waiting: Option<JobId> =
        db.prepare_cached(WAITED_ON)?.query_row([id], |row| row.get(0)).optional()?;
    if let Some(child) = waiting {
        return Ok(Change::WaitedOn(child));
    }
    db.prepare_cached(DELETE_JOB)?.execute([id])?;
    db.prepare_cached(DELETE_JOB_HISTORY)?.execute([id])?;
    db.prepare_cached(DELETE_JOB_EDGES)?.execute([id])?;
    changes.removed(state);
    Ok(Change::Done)
}

fn release(db: &Connection, attempts: &[Attempt], changes: &mut Changes) -> Result<()> {
    // One statement for the whole batch (a drain or a stale claim-ahead gives back up to
    // 64 jobs per worker): the attempts go in as one JSON array of [id, attempt] pairs.
    let pairs: Vec<(JobId, u32)> = attempts.iter().map(|a| (a.id, a.number)).collect();
    let pairs = serde_json::to_string(&pairs).expect("attempts serialise");
    for id in ids(db, RELEASE, [pairs])? {
        changes.moved(id, Some(JobState::Running), JobState::Queued);
    }
    Ok(())
}

/// The ids a statement returns.
fn ids(db: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<JobId>> {
    Ok(db
        .prepare_cached(sql)?
        .query_map(params, |row| row.get::<_, JobId>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?)
}

fn recover(db: &Connection, changes: &mut Changes) -> Result<Recovered> {
    let at = now();
    let released = ids(db, RECOVER_RELEASED, [])?;
    let requeued = ids(db, RECOVER_REQUEUED, [at])?;
    let failed = ids(db, RECOVER_FAILED, [at])?;
    for &id in released.iter().chain(&requeued) {
        changes.moved(id, Some(JobState::Running), JobState::Queued);
    }
    for &id in &failed {
        changes.moved(id, Some(JobState::Running), JobState::Failed);
    }
    // A job failed by the restart is a parent's end like any other.
    workflows::ended(db, failed.clone(), changes)?;
    Ok(Recovered {
        released: released.len() as u64,
        requeued: requeued.len() as u64,
        failed: failed.len() as u64,
    })
}

fn purge(db: &Connection, cutoff: SystemTime, changes: &mut Changes) -> Result<u64> {
    db.prepare_cached(PURGE_HISTORY)?.execute([micros(cutoff)])?;
    let purged = db
        .prepare_cached(PURGE)?
        .query_map([micros(cutoff)], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for state in &purged {
        changes.removed(rows::state(state)?);
    }
    Ok(purged.len() as u64)
}

fn progress(db: &Connection, by: Running, percent: u8, message: &str) -> Result<()> {
    db.prepare_cached(PROGRESS)?.execute(params![percent.min(100), message, by.id, by.attempt])?;
    Ok(())
}
