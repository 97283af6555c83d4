//! Bulk actions on the writer's connection: cancel, retry or delete every job a filter selects, in
//! the writer's one transaction. Each is one `UPDATE … WHERE <filter>` per state the action
//! applies to (so the state each job left is known without a read of every row, and the
//! per-state counts stay right): the statement is as long as the filter, never as long as
//! the list of jobs it changes.

use rusqlite::{Connection, params_from_iter};

use super::SqliteStore;
use super::jobs::{CANCEL, RETRY};
use super::values::now;
use super::writer::Kind::Promised;
use crate::store::backend::BulkActions;
use crate::store::changes::Changes;
use crate::store::filter::{self, Dialect, Value};
use crate::store::{Bulk, JobFilter, JobId, JobState, Result};

const COUNT: &str = include_str!("sql/count.sql");
const BULK_WHERE: &str = include_str!("sql/bulk_where.sql");
const DELETE: &str = include_str!("sql/delete.sql");
const DELETE_HISTORY: &str = include_str!("sql/delete_history.sql");

impl BulkActions for SqliteStore {
    async fn cancel_matching(&self, filter: &JobFilter) -> Result<Bulk> {
        let filter = filter.clone();
        self.write(Promised, move |db, changes, _| cancel_matching(db, &filter, changes)).await
    }

    async fn retry_matching(&self, filter: &JobFilter) -> Result<Bulk> {
        let filter = filter.clone();
        self.write(Promised, move |db, changes, _| retry_matching(db, &filter, changes)).await
    }

    async fn delete_matching(&self, filter: &JobFilter) -> Result<Bulk> {
        let filter = filter.clone();
        self.write(Promised, move |db, changes, _| delete_matching(db, &filter, changes)).await
    }
}

/// How many jobs the filter selects.
fn matched(db: &Connection, filter: &JobFilter) -> Result<u64> {
    let clause = filter::clause(filter, Dialect::Sqlite, 1);
    let sql = filter::fill(COUNT, "{filter}", &clause.sql);
    let n: i64 =
        db.prepare_cached(&sql)?.query_row(params_from_iter(&clause.values), |row| row.get(0))?;
    Ok(n.max(0) as u64)
}

/// The states of `states` the filter allows.
fn selected(filter: &JobFilter, states: &'static [JobState]) -> impl Iterator<Item = JobState> {
    let only = filter.state;
    states.iter().copied().filter(move |&state| only.is_none_or(|only| only == state))
}

/// Runs `template` (an `UPDATE jobs … WHERE {where} RETURNING id`, `?1` the time) on the
/// selected jobs in each of `states` the filter allows; returns the jobs changed with the
/// state they were in.
fn update(
    db: &Connection,
    filter: &JobFilter,
    states: &'static [JobState],
    template: &str,
) -> Result<Vec<(JobId, JobState)>> {
    // ?1 is the time, ?2 the state, the filter's from ?3.
    let clause = filter::clause(filter, Dialect::Sqlite, 3);
    let sql = filter::fill(template, "{where}", &filter::fill(BULK_WHERE, "{filter}", &clause.sql));
    let at = now();
    let mut changed = Vec::new();
    for state in selected(filter, states) {
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
fn cancel_matching(db: &Connection, filter: &JobFilter, changes: &mut Changes) -> Result<Bulk> {
    change_matching(db, filter, (&JobState::CANCELLABLE, CANCEL, JobState::Cancelled), changes)
}

/// Queues the selected failed, timed-out and cancelled jobs again, each as a new attempt
/// (as a single retry does).
fn retry_matching(db: &Connection, filter: &JobFilter, changes: &mut Changes) -> Result<Bulk> {
    change_matching(db, filter, (&JobState::RETRYABLE, RETRY, JobState::Queued), changes)
}

/// Counts the selected jobs, then moves those in `from` states to `to` with `template`,
/// noting each transition. Cancelled running jobs may free slots of capped modules: the
/// claims wake.
fn change_matching(
    db: &Connection,
    filter: &JobFilter,
    (from, template, to): (&'static [JobState], &str, JobState),
    changes: &mut Changes,
) -> Result<Bulk> {
    let matched = matched(db, filter)?;
    let changed = update(db, filter, from, template)?;
    for &(id, was) in &changed {
        changes.freed += u64::from(was == JobState::Running);
        changes.moved(id, Some(was), to);
    }
    if to == JobState::Cancelled {
        let ended = changed.iter().map(|&(id, _)| id).collect();
        super::workflows::ended(db, ended, changes)?;
    }
    Ok(Bulk { matched, changed })
}

/// Deletes the selected ended jobs with their attempt histories (queued and running ones are
/// left alone).
fn delete_matching(db: &Connection, filter: &JobFilter, changes: &mut Changes) -> Result<Bulk> {
    let matched = matched(db, filter)?;
    // ?1 is the state, the filter's from ?2.
    let clause = filter::clause(filter, Dialect::Sqlite, 2);
    let history = filter::fill(DELETE_HISTORY, "{filter}", &clause.sql);
    let delete = filter::fill(DELETE, "{filter}", &clause.sql);
    let mut changed = Vec::new();
    for state in selected(filter, &JobState::DELETABLE) {
        let head = [Value::Text(state.as_str().to_string())];
        db.prepare_cached(&history)?
            .execute(params_from_iter(head.iter().chain(&clause.values)))?;
        let ids = db
            .prepare_cached(&delete)?
            .query_map(params_from_iter(head.iter().chain(&clause.values)), |row| {
                row.get::<_, JobId>(0)
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        ids.iter().for_each(|_| changes.removed(state));
        changed.extend(ids.into_iter().map(|id| (id, state)));
    }
    Ok(Bulk { matched, changed })
}
