//! Bulk actions: cancel, retry or delete every job a filter selects, in one transaction, one
//! statement per state the action applies to (so each changed job's former state is known).
//! Each statement is as long as the filter, not as the list of jobs it changes; its row locks
//! (taken in id order) last until the commit.

use std::time::Duration;

use super::jobs::{CANCEL, RETRY};
use super::{PgStore, bind};
use crate::store::backend::BulkActions;
use crate::store::changes::Changes;
use crate::store::filter::{self, Dialect};
use crate::store::{Bulk, JobFilter, JobState, Result, StoreError};

const COUNT: &str = include_str!("sql/count.sql");
const BULK_WHERE: &str = include_str!("sql/bulk_where.sql");
const DELETE: &str = include_str!("sql/delete.sql");

/// Tries of a bulk change that PostgreSQL ended to break a deadlock.
const BULK_TRIES: u32 = 5;

impl BulkActions for PgStore {
    /// Cancels the selected queued, then running, jobs.
    async fn cancel_matching(&self, filter: &JobFilter) -> Result<Bulk> {
        let states = JobState::CANCELLABLE;
        self.change_matching_retried(filter, CANCEL, &states, JobState::Cancelled).await
    }

    /// Queues the selected ended jobs again.
    async fn retry_matching(&self, filter: &JobFilter) -> Result<Bulk> {
        let states = JobState::RETRYABLE;
        self.change_matching_retried(filter, RETRY, &states, JobState::Queued).await
    }

    /// Deletes the selected ended jobs, one statement per ended state the filter allows (so
    /// each deleted job's state is known). Nothing is announced to other hosts: no job changed
    /// state, and their lists read the table.
    async fn delete_matching(&self, filter: &JobFilter) -> Result<Bulk> {
        let mut tx = self.pool().begin().await?;
        let matched = matched(&mut tx, filter).await?;
        // $1 is the state; the filter's placeholders follow.
        let clause = filter::clause(filter, Dialect::Postgres, 2);
        let sql = filter::fill(DELETE, "{filter}", &clause.sql);
        let mut changed = Vec::new();
        for state in selected(filter, &JobState::DELETABLE) {
            let query = sqlx::query_scalar::<_, i64>(&sql).bind(state.as_str());
            let ids = bind(query, &clause.values).fetch_all(&mut *tx).await?;
            changed.extend(ids.into_iter().map(|id| (id, state)));
        }
        tx.commit().await?;
        self.forget_counts();
        Ok(Bulk { matched: matched.max(changed.len() as u64), changed })
    }
}

/// The states of `states` the filter allows.
fn selected(filter: &JobFilter, states: &[JobState]) -> Vec<JobState> {
    let only = filter.state;
    states.iter().copied().filter(|&state| only.is_none_or(|only| only == state)).collect()
}

/// How many jobs the filter selects.
async fn matched(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    filter: &JobFilter,
) -> Result<u64> {
    let clause = filter::clause(filter, Dialect::Postgres, 1);
    let count = filter::fill(COUNT, "{filter}", &clause.sql);
    let matched: i64 =
        bind(sqlx::query_scalar(&count), &clause.values).fetch_one(&mut **tx).await?;
    Ok(matched.max(0) as u64)
}

impl PgStore {
    /// [`Self::change_matching`], again after a short random pause when PostgreSQL ended it
    /// to break a deadlock with a concurrent change (rows are locked in id order, but a
    /// host's own writes lock theirs in another), up to [`BULK_TRIES`] times.
    async fn change_matching_retried(
        &self,
        filter: &JobFilter,
        template: &str,
        states: &[JobState],
        to: JobState,
    ) -> Result<Bulk> {
        let mut tries = 1;
        loop {
            match self.change_matching(filter, template, states, to).await {
                Err(StoreError::Conflict(reason)) if tries < BULK_TRIES => {
                    tracing::debug!("a bulk change met a concurrent one, trying again: {reason}");
                    let pause = rand::random_range(10..50u64) * tries as u64;
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                    tries += 1;
                }
                other => return other,
            }
        }
    }

    /// Runs `template` on the jobs the filter selects, one statement per state of `states`
    /// it allows, in one transaction.
    async fn change_matching(
        &self,
        filter: &JobFilter,
        template: &str,
        states: &[JobState],
        to: JobState,
    ) -> Result<Bulk> {
        let mut tx = self.pool().begin().await?;
        let matched = matched(&mut tx, filter).await?;
        // $1 is the state; the filter's placeholders follow.
        let clause = filter::clause(filter, Dialect::Postgres, 2);
        let locked = filter::fill(BULK_WHERE, "{filter}", &clause.sql);
        let sql = filter::fill(template, "{where}", &locked);
        let mut changed = Vec::new();
        let mut changes = Changes::default();
        for state in selected(filter, states) {
            let query = sqlx::query_scalar::<_, i64>(&sql).bind(state.as_str());
            let ids = bind(query, &clause.values).fetch_all(&mut *tx).await?;
            if to == JobState::Cancelled && state == JobState::Running {
                // Cancelled running jobs may free slots of capped modules: wake the claims.
                changes.freed += ids.len() as u64;
            }
            for id in ids {
                changes.became(id, to);
                changed.push((id, state));
            }
        }
        if to == JobState::Cancelled {
            let ended = changed.iter().map(|&(id, _)| id).collect();
            super::workflows::ended(&mut tx, ended, &mut changes).await?;
        }
        self.commit(tx, changes).await?;
        self.forget_counts();
        Ok(Bulk { matched: matched.max(changed.len() as u64), changed })
    }
}
