//! The dispatcher's writes on the writer's connection: starts and results of attempts, and
//! claims, in one operation (`finish_and_claim`), so a worker freed is a worker fed in the
//! same transaction.

use std::cmp::Reverse;
use std::collections::HashSet;
use std::time::SystemTime;

use rusqlite::{Connection, params, params_from_iter};

use super::SqliteStore;
use super::values::{Param, blob, int, multi_row, now, opt_int, opt_text, text};
use super::writer::{Group, Kind};
use crate::store::backend::Claims;
use crate::store::buckets::Pacing;
use crate::store::changes::Changes;
use crate::store::fair::Rotation;
use crate::store::gate;
use crate::store::rows::{self, JobRecord, Positioned, micros};
use crate::store::{Attempt, Claimed, Finished, JobId, JobState, Result};

const START: &str = include_str!("sql/start.sql");
const FINISH: &str = include_str!("sql/finish.sql");
const KEEP_ATTEMPTS: &str = include_str!("sql/keep_attempts.sql");
const CAPPED: &str = include_str!("sql/capped.sql");
const CLAIM: &str = include_str!("sql/claim.sql");
const CLAIM_CAPPED: &str = include_str!("sql/claim_capped.sql");
const CLAIM_UNCAPPED: &str = include_str!("sql/claim_uncapped.sql");
const CLAIM_MODULE: &str = include_str!("sql/claim_module.sql");

/// Attempts recorded by one statement at most.
const FINISH_CHUNK: usize = 32;
/// Starts recorded by one statement at most.
const START_CHUNK: usize = 256;

impl Claims for SqliteStore {
    async fn finish_and_claim(
        &self,
        started: Vec<(Attempt, SystemTime)>,
        finished: Vec<Finished>,
        lane: &str,
        limit: usize,
    ) -> Result<Claimed> {
        let lane = lane.to_string();
        let rotation = self.rotation.clone();
        self.write(Kind::Bookkeeping, move |db, changes, group| {
            let claim = (lane.as_str(), limit, &rotation);
            finish_and_claim(db, (&started, &finished), claim, changes, group)
        })
        .await
    }
}

/// Records starts and ended attempts and claims for the workers they freed, in one
/// transaction.
fn finish_and_claim(
    db: &Connection,
    (started, finished): (&[(Attempt, SystemTime)], &[Finished]),
    (lane, limit, rotation): (&str, usize, &Rotation),
    changes: &mut Changes,
    group: &Group<'_>,
) -> Result<Claimed> {
    start(db, started)?;
    finish(db, finished, group.node, changes)?;
    let seen = group.queued + changes.queued();
    let (jobs, pacing) = match limit {
        0 => (Vec::new(), Pacing::default()),
        limit => claim(db, (lane, limit, rotation), group.node, changes)?,
    };
    Ok(Claimed::paced(jobs, seen, pacing))
}

/// Records when claimed jobs reached a worker.
fn start(db: &Connection, started: &[(Attempt, SystemTime)]) -> Result<()> {
    for chunk in started.chunks(START_CHUNK) {
        let values: Vec<Param<'_>> = chunk
            .iter()
            .flat_map(|&(attempt, at)| {
                [int(attempt.id), int(micros(at)), int(attempt.number.into())]
            })
            .collect();
        db.prepare_cached(&multi_row(START, chunk.len(), 3))?.execute(params_from_iter(values))?;
    }
    Ok(())
}

/// Records ended attempts: each job ends, or goes back to the queue for a retry; each
/// attempt that was still current joins its job's history.
fn finish(db: &Connection, finished: &[Finished], node: &str, changes: &mut Changes) -> Result<()> {
    const COLUMNS: usize = 16;
    for chunk in finished.chunks(FINISH_CHUNK) {
        let mut values = Vec::with_capacity(chunk.len() * COLUMNS);
        for end in chunk {
            let (not_before, finished_at) = match end.retry_at {
                Some(at) => (Some(micros(at)), None),
                None => (None, Some(micros(end.finished_at))),
            };
            values.extend([
                int(end.id()),
                text(end.next_state().as_str()),
                opt_int(not_before),
                int(micros(end.started_at)),
                opt_int(finished_at),
                opt_int(end.worker_pid.map(i64::from)),
                opt_int(end.exit_code.map(i64::from)),
                blob(&end.stdout),
                blob(&end.stderr),
                int(end.stdout_truncated.into()),
                int(end.stderr_truncated.into()),
                opt_text(end.error.as_deref()),
                opt_int(end.fuel_used.map(|fuel| fuel as i64)),
                int(end.peak_memory_bytes as i64),
                int(end.attempt.number.into()),
                opt_text(end.result.as_deref()),
            ]);
        }
        let updated = db
            .prepare_cached(&multi_row(FINISH, chunk.len(), COLUMNS))?
            .query_map(params_from_iter(values), |row| {
                let capped = row.get::<_, Option<bool>>(1)?.unwrap_or(false);
                Ok((row.get::<_, JobId>(0)?, capped, row.get::<_, bool>(2)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        changes.freed += updated.iter().filter(|(_, capped, _)| *capped).count() as u64;
        let in_workflow: HashSet<JobId> =
            updated.iter().filter(|(.., flow)| *flow).map(|(id, ..)| *id).collect();
        let updated: HashSet<JobId> = updated.into_iter().map(|(id, ..)| id).collect();
        let current: Vec<&Finished> =
            chunk.iter().filter(|end| updated.contains(&end.id())).collect();
        for end in &current {
            changes.moved(end.id(), Some(JobState::Running), end.next_state());
        }
        keep_attempts(db, &current, node)?;
        super::spawned::write(db, &current, changes)?;
        // A parent's end releases its children in this same transaction; a retried attempt
        // (queued again) is not an end, and a stale attempt's result updated nothing.
        let ended: Vec<JobId> = current
            .iter()
            .filter(|end| end.next_state().is_terminal() && in_workflow.contains(&end.id()))
            .map(|end| end.id())
            .collect();
        if !ended.is_empty() {
            super::workflows::ended(db, ended, changes)?;
        }
    }
    Ok(())
}

/// Adds ended attempts to their jobs' histories, with one statement.
fn keep_attempts(db: &Connection, ended: &[&Finished], node: &str) -> Result<()> {
    const COLUMNS: usize = 9;
    if ended.is_empty() {
        return Ok(());
    }
    let mut values = Vec::with_capacity(ended.len() * COLUMNS);
    for end in ended {
        values.extend([
            int(end.id()),
            int(end.attempt.number.into()),
            text(node),
            opt_int(end.worker_pid.map(i64::from)),
            int(micros(end.started_at)),
            int(micros(end.finished_at)),
            text(end.state.as_str()),
            opt_int(end.exit_code.map(i64::from)),
            opt_text(end.error.as_deref()),
        ]);
    }
    db.prepare_cached(&multi_row(KEEP_ATTEMPTS, ended.len(), COLUMNS))?
        .execute(params_from_iter(values))?;
    Ok(())
}

/// Claims up to `limit` due jobs of `lane`, never more of a capped module, a tenant with a
/// running quota or a concurrency key than its room, by fair shares while two or more
/// tenants have queued jobs in the lane (the gated claim, `gate.rs`, when any of these is
/// so). One writer means no other claim can interleave.
fn claim(
    db: &Connection,
    (lane, limit, rotation): (&str, usize, &Rotation),
    node: &str,
    changes: &mut Changes,
) -> Result<(Vec<JobRecord>, Pacing)> {
    let at = now();
    let mut pacing = Pacing::default();
    let caps = super::gate::caps(db, lane)?;
    let jobs = if gate::needed(&caps) {
        let (ids, paced) = super::gate::choose(db, (lane, at, limit), &caps, rotation)?;
        pacing = paced;
        let listed = serde_json::to_string(&ids).expect("integers serialise");
        let mut jobs = claimed(db, CLAIM_CAPPED, params![node, listed])?;
        // In the order chosen: by fair shares, it is not the queue's.
        jobs.sort_by_key(|job| ids.iter().position(|id| *id == job.id));
        jobs
    } else if !caps.iter().any(|cap| cap.kind == "module") {
        // No cap of any kind: the one statement.
        let mut jobs = claimed(db, CLAIM, params![node, lane, at, limit as i64])?;
        jobs.sort_by_key(|job| (Reverse(job.priority), job.id));
        jobs
    } else {
        let mut jobs = claim_ungated(db, lane, (at, limit), node)?;
        jobs.sort_by_key(|job| (Reverse(job.priority), job.id));
        jobs
    };
    for job in &jobs {
        changes.moved(job.id, Some(JobState::Queued), JobState::Running);
    }
    Ok((jobs, pacing))
}

/// The claim while no tenant has a running quota: one statement, or, while some module is
/// capped, the first `limit` of the lane's queue once capped modules' jobs past their room are
/// left out.
fn claim_ungated(
    db: &Connection,
    lane: &str,
    (at, limit): (i64, usize),
    node: &str,
) -> Result<Vec<JobRecord>> {
    let room = db
        .prepare_cached(CAPPED)?
        .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if room.is_empty() {
        claimed(db, CLAIM, params![node, lane, at, limit as i64])
    } else {
        let ids = capped_choice(db, lane, at, limit, &room)?;
        let ids = serde_json::to_string(&ids).expect("integers serialise");
        claimed(db, CLAIM_CAPPED, params![node, ids])
    }
}

/// The jobs a claim statement moved to running.
fn claimed(db: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<JobRecord>> {
    let mut statement = db.prepare_cached(sql)?;
    let columns = rows::positions(&statement);
    statement
        .query_map(params, |row| Ok(rows::job(&Positioned { row, columns: &columns })))?
        .map(|row| row?)
        .collect()
}

/// The jobs a claim takes while some modules are capped: the first `limit` of the lane's
/// due queue once every capped module's jobs past its room are left out. That is the first
/// `limit` of the uncapped modules' jobs and of each capped module's first `room` jobs.
fn capped_choice(
    db: &Connection,
    lane: &str,
    at: i64,
    limit: usize,
    room: &[(String, i64)],
) -> Result<Vec<JobId>> {
    let capped: Vec<&str> = room.iter().map(|(hash, _)| hash.as_str()).collect();
    let capped = serde_json::to_string(&capped).expect("strings serialise");
    let ranked = |row: &rusqlite::Row<'_>| Ok((Reverse(row.get::<_, i64>(0)?), row.get(1)?));
    let mut chosen: Vec<(Reverse<i64>, JobId)> = db
        .prepare_cached(CLAIM_UNCAPPED)?
        .query_map(params![lane, at, capped, limit as i64], ranked)?
        .collect::<rusqlite::Result<_>>()?;
    for (hash, room) in room.iter().filter(|(_, room)| *room > 0) {
        let first = db
            .prepare_cached(CLAIM_MODULE)?
            .query_map(params![lane, at, hash, room.min(&(limit as i64))], ranked)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        chosen.extend(first);
    }
    chosen.sort_unstable();
    chosen.truncate(limit);
    Ok(chosen.into_iter().map(|(_, id)| id).collect())
}
