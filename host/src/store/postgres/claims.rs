//! The dispatcher's one write: starts and results of attempts, then claims, in one
//! transaction whose commit does not wait for the disk (losing it in a database crash costs
//! at most a job run again: its attempt is rescued as if its host were lost).

use std::cmp::Reverse;
use std::time::SystemTime;

use sqlx::{Postgres, Transaction};

use super::{PgStore, columns};
use crate::store::backend::Claims;
use crate::store::buckets::Pacing;
use crate::store::changes::Changes;
use crate::store::rows::{self, micros};
use crate::store::{Attempt, Claimed, Finished, JobRecord, JobState, Result};

const CLAIM: &str = include_str!("sql/claim.sql");
const CLAIM_CAPPED: &str = include_str!("sql/claim_capped.sql");
const CAPPED: &str = include_str!("sql/capped.sql");
const CAP_LOCKS: &str = include_str!("sql/cap_locks.sql");
const FINISH: &str = include_str!("sql/finish.sql");
const START: &str = include_str!("sql/start.sql");

impl Claims for PgStore {
    async fn finish_and_claim(
        &self,
        started: Vec<(Attempt, SystemTime)>,
        finished: Vec<Finished>,
        lane: &str,
        limit: usize,
    ) -> Result<Claimed> {
        // Read before the claim's snapshot: a job queued after it is announced after this.
        let seen = self.inner.announce.queued_so_far();
        let mut tx = self.begin_bookkeeping().await?;
        let mut changes = Changes::default();
        start(&mut tx, &started).await?;
        finish(&mut tx, &finished, &mut changes).await?;
        let (jobs, pacing) = if limit == 0 {
            (Vec::new(), Pacing::default())
        } else {
            self.claim(&mut tx, lane, limit).await?
        };
        for job in &jobs {
            changes.became(job.id, JobState::Running);
        }
        self.commit(tx, changes).await?;
        Ok(Claimed::paced(jobs, seen, pacing))
    }
}

impl PgStore {
    /// Claims for this host. With no capped module that is one statement (`claim.sql`).
    /// Otherwise the capped modules with room are locked first (`cap_locks.sql`), and the
    /// claim counts their room in a snapshot taken after it holds the locks. With a tenant's
    /// running quota it is the gated claim (`gate.rs`).
    async fn claim(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        lane: &str,
        limit: usize,
    ) -> Result<(Vec<JobRecord>, Pacing)> {
        let caps: Vec<super::gate::CapRow> =
            sqlx::query_as(CAPPED).bind(lane).fetch_all(&mut **tx).await?;
        let capped: Vec<(String, i64, bool)> = caps
            .iter()
            .filter(|(kind, ..)| kind == "module")
            .map(|(_, hash, cap, room)| (hash.clone(), *cap, *room))
            .collect();
        if crate::store::gate::needed(&super::gate::caps(&caps)) {
            // In the order chosen: by fair shares, it is not the queue's.
            let (found, pacing) = self.gated_claim(tx, lane, limit, &caps).await?;
            let jobs = found.iter().map(rows::job).collect::<Result<Vec<_>>>()?;
            return Ok((jobs, pacing));
        }
        let found = if capped.is_empty() {
            sqlx::query(CLAIM)
                .bind(limit as i64)
                .bind(&self.inner.node.name)
                .bind(self.me())
                .bind(lane)
                .fetch_all(&mut **tx)
                .await?
        } else {
            let open: Vec<&(String, i64, bool)> = capped.iter().filter(|c| c.2).collect();
            let hashes: Vec<&str> = open.iter().map(|c| c.0.as_str()).collect();
            let caps: Vec<i64> = open.iter().map(|c| c.1).collect();
            if !hashes.is_empty() {
                sqlx::query(CAP_LOCKS).bind(&hashes).execute(&mut **tx).await?;
            }
            let all: Vec<&str> = capped.iter().map(|c| c.0.as_str()).collect();
            sqlx::query(CLAIM_CAPPED)
                .bind(limit as i64)
                .bind(&self.inner.node.name)
                .bind(self.me())
                .bind(&hashes)
                .bind(&caps)
                .bind(&all)
                .bind(lane)
                .fetch_all(&mut **tx)
                .await?
        };
        let mut jobs = found.iter().map(rows::job).collect::<Result<Vec<_>>>()?;
        jobs.sort_by_key(|job| (Reverse(job.priority), job.id));
        Ok((jobs, Pacing::default()))
    }
}

async fn start(
    tx: &mut Transaction<'_, Postgres>,
    started: &[(Attempt, SystemTime)],
) -> Result<()> {
    if started.is_empty() {
        return Ok(());
    }
    let attempts: Vec<Attempt> = started.iter().map(|(attempt, _)| *attempt).collect();
    let (ids, numbers, nodes) = columns(&attempts);
    let at: Vec<i64> = started.iter().map(|(_, at)| micros(*at)).collect();
    sqlx::query(START).bind(ids).bind(numbers).bind(nodes).bind(at).execute(&mut **tx).await?;
    Ok(())
}

/// One array per column of a batch of ended attempts.
fn array<'a, T>(finished: &'a [Finished], column: impl Fn(&'a Finished) -> T) -> Vec<T> {
    finished.iter().map(column).collect()
}

async fn finish(
    tx: &mut Transaction<'_, Postgres>,
    finished: &[Finished],
    changes: &mut Changes,
) -> Result<()> {
    if finished.is_empty() {
        return Ok(());
    }
    let attempts: Vec<Attempt> = finished.iter().map(|end| end.attempt).collect();
    let (ids, numbers, nodes) = columns(&attempts);
    let updated: Vec<(i64, String, bool, bool)> = sqlx::query_as(FINISH)
        .bind(ids)
        .bind(numbers)
        .bind(nodes)
        .bind(array(finished, |end| end.next_state().as_str()))
        .bind(array(finished, |end| end.retry_at.map(micros)))
        .bind(array(finished, |end| micros(end.started_at)))
        .bind(array(finished, |end| micros(end.finished_at)))
        .bind(array(finished, |end| end.worker_pid.map(i64::from)))
        .bind(array(finished, |end| end.exit_code.map(i64::from)))
        .bind(array(finished, |end| end.stdout.as_slice()))
        .bind(array(finished, |end| end.stderr.as_slice()))
        .bind(array(finished, |end| end.stdout_truncated))
        .bind(array(finished, |end| end.stderr_truncated))
        .bind(array(finished, |end| end.error.as_deref()))
        .bind(array(finished, |end| end.fuel_used.map(|f| f as i64)))
        .bind(array(finished, |end| end.peak_memory_bytes as i64))
        .bind(array(finished, |end| end.state.as_str()))
        .bind(array(finished, |end| end.result.as_deref()))
        .fetch_all(&mut **tx)
        .await?;
    // The `job ended` line was written when the worker answered; say which of those results
    // did not count (the attempt was rescued from this host, or the job cancelled).
    for end in finished.iter().filter(|end| !updated.iter().any(|(id, ..)| *id == end.attempt.id)) {
        tracing::warn!(
            job = end.attempt.id,
            attempt = end.attempt.number,
            "late result discarded: the attempt is no longer this host's (fenced)"
        );
    }
    let recorded: Vec<i64> = updated.iter().map(|(id, ..)| *id).collect();
    // A parent's end releases its children in this same transaction; a retried attempt
    // (queued again) is not an end, and a stale attempt's result updated nothing.
    let mut ended = Vec::new();
    for (id, state, capped, in_workflow) in updated {
        let state = rows::state(&state)?;
        changes.became(id, state);
        changes.freed += u64::from(capped);
        if in_workflow && state.is_terminal() {
            ended.push(id);
        }
    }
    // Jobs spawned by the attempts that succeeded, before their spawners' ends release
    // anything (a spawner whose jobs are refused ends failed instead).
    super::spawned::write(tx, finished, &recorded, changes).await?;
    super::workflows::ended(tx, ended, changes).await
}
