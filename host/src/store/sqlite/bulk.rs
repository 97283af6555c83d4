//! Bulk actions on the writer's connection: cancel, retry or delete every job a filter selects, in
//! the writer's one transaction. Each is one `UPDATE … WHERE <filter>` per state the action
//! applies to (so the state each job left is known without a read of every row, and the
//! per-state counts stay right): the statement is as long as the filter, never as long as
//! the list of jobs it changes.

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql, params_from_iter};

use super::writer::Changes;
use crate::store::filter::{self, Dialect, Value};
use crate::store::{Bulk, JobFilter, JobId, Result};
use crate::wire::JobState;

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Int(value) => ValueRef::Integer(*value),
            Value::Text(text) => ValueRef::Text(text.as_bytes()),
        }))
    }
}

/// A cancel, `?1` the time (the single cancel's too).
pub(super) const CANCEL: &str =
    "UPDATE jobs SET state = 'cancelled', finished_at = ?1, error = 'cancelled'";

/// A retry, `?1` the time: a new attempt, the last result cleared (the single retry's too).
pub(super) const RETRY: &str = "UPDATE jobs SET state = 'queued', not_before = ?1,
        max_attempts = max(max_attempts, attempts + 1), started_at = NULL, finished_at = NULL,
        worker_pid = NULL, exit_code = NULL, stdout = NULL, stderr = NULL, stdout_truncated = 0,
        stderr_truncated = 0, error = NULL, fuel_used = NULL, peak_memory_bytes = NULL";

/// A bulk delete's statements, `{where}` the state and the filter.
const DELETE: &str = include_str!("sql/delete.sql");
const DELETE_HISTORY: &str = include_str!("sql/delete_history.sql");

/// How many jobs the filter selects.
fn matched(db: &Connection, filter: &JobFilter) -> Result<u64> {
    let clause = filter::clause(filter, Dialect::Sqlite, 1);
    let sql = format!("SELECT count(*) FROM jobs WHERE {}", clause.sql);
    let n: i64 =
        db.prepare_cached(&sql)?.query_row(params_from_iter(&clause.values), |row| row.get(0))?;
    Ok(n.max(0) as u64)
}

/// Runs `set` (an `UPDATE jobs SET …` with `?1` for the time) on the selected jobs in each of
/// `states` the filter allows; returns the jobs changed with the state they were in.
fn update(
    db: &Connection,
    filter: &JobFilter,
    states: &[JobState],
    set: &str,
    at: i64,
) -> Result<Vec<(JobId, JobState)>> {
    // ?1 is the time, ?2 the state, the filter's from ?3.
    let clause = filter::clause(filter, Dialect::Sqlite, 3);
    let sql = format!("{set} WHERE state = ?2 AND {} RETURNING id", clause.sql);
    let mut changed = Vec::new();
    for &state in states.iter().filter(|&&state| filter.state.is_none_or(|only| only == state)) {
        let head = [Value::Int(at), Value::Text(state.as_str().to_string())];
        let values = head.iter().chain(&clause.values);
        let ids = db
            .prepare_cached(&sql)?
            .query_map(params_from_iter(values), |row| row.get::<_, JobId>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        changed.extend(ids.into_iter().map(|id| (id, state)));
    }
    Ok(changed)
}

/// Cancels the selected queued and running jobs.
pub fn cancel_matching(
    db: &Connection,
    filter: &JobFilter,
    at: i64,
    changes: &mut Changes,
) -> Result<Bulk> {
    change_matching(db, filter, (&JobState::CANCELLABLE, CANCEL, JobState::Cancelled), at, changes)
}

/// Queues the selected failed, timed-out and cancelled jobs again, each as a new attempt
/// (as a single retry does).
pub fn retry_matching(
    db: &Connection,
    filter: &JobFilter,
    at: i64,
    changes: &mut Changes,
) -> Result<Bulk> {
    change_matching(db, filter, (&JobState::RETRYABLE, RETRY, JobState::Queued), at, changes)
}

/// Counts the selected jobs, then moves those in `from` states to `to` with `set`, noting
/// each transition. Cancelled running jobs may free slots of capped modules: the claims wake.
fn change_matching(
    db: &Connection,
    filter: &JobFilter,
    (from, set, to): (&[JobState], &str, JobState),
    at: i64,
    changes: &mut Changes,
) -> Result<Bulk> {
    let matched = matched(db, filter)?;
    let changed = update(db, filter, from, set, at)?;
    for &(id, was) in &changed {
        changes.freed += u64::from(was == JobState::Running);
        changes.moved(id, Some(was), to);
    }
    Ok(Bulk { matched, changed })
}

/// Deletes the selected ended jobs with their attempt histories (queued and running ones are
/// left alone).
pub fn delete_matching(db: &Connection, filter: &JobFilter, changes: &mut Changes) -> Result<Bulk> {
    let matched = matched(db, filter)?;
    // ?1 is the state, the filter's from ?2.
    let clause = filter::clause(filter, Dialect::Sqlite, 2);
    let selected = format!("state = ?1 AND {}", clause.sql);
    let history = DELETE_HISTORY.replace("{where}", &selected);
    let delete = DELETE.replace("{where}", &selected);
    let mut changed = Vec::new();
    for &state in
        JobState::DELETABLE.iter().filter(|&&state| filter.state.is_none_or(|only| only == state))
    {
        let head = [Value::Text(state.as_str().to_string())];
        db.prepare_cached(&history)?
            .execute(params_from_iter(head.iter().chain(&clause.values)))?;
        let ids = db
            .prepare_cached(&delete)?
            .query_map(params_from_iter(head.iter().chain(&clause.values)), |row| {
                row.get::<_, JobId>(0)
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        changes.counts.extend(ids.iter().map(|_| (Some(state), None)));
        changed.extend(ids.into_iter().map(|id| (id, state)));
    }
    Ok(Bulk { matched, changed })
}
