//! Jobs spawned by running attempts (`wasmpool:task/workflow.spawn`), written in the
//! transaction that records the spawner's fenced result (`claims::finish`), only when it
//! succeeded: a failed or retried attempt, or a stale host's late result (its UPDATE matched
//! nothing, so it is not among `current`), writes none. Each spawner's jobs go through the
//! submission of a workflow (`workflows::submit`) under a savepoint of their own, so jobs the
//! store refuses then (their module deleted since the spawn, the workflow past its maximum)
//! roll back alone and end their spawner `failed`, saying why.

use rusqlite::{Connection, params};

use crate::store::changes::Changes;
use crate::store::{Finished, JobState, Result, StoreError};

const SPAWN_REFUSED: &str = include_str!("sql/spawn_refused.sql");
const SPAWN_REFUSED_ATTEMPT: &str = include_str!("sql/spawn_refused_attempt.sql");

/// Writes the jobs spawned by the attempts of `current` (those whose result was recorded)
/// that succeeded.
pub(super) fn write(db: &Connection, current: &[&Finished], changes: &mut Changes) -> Result<()> {
    for end in current {
        let Some(spawned) = end.spawned.as_deref() else { continue };
        if end.next_state() != JobState::Succeeded || spawned.jobs.is_empty() {
            continue;
        }
        db.execute_batch("SAVEPOINT spawned")?;
        let mut written = Changes::default();
        match super::workflows::submit(db, &spawned.jobs, spawned.limits, &mut written) {
            Ok(_) => {
                db.execute_batch("RELEASE spawned")?;
                changes.absorb(written);
            }
            Err(refused @ (StoreError::Graph(_) | StoreError::UnknownModule(_))) => {
                db.execute_batch("ROLLBACK TO spawned; RELEASE spawned")?;
                let error = format!("the jobs it spawned could not be submitted: {refused}");
                let (id, attempt) = (end.id(), i64::from(end.attempt.number));
                db.prepare_cached(SPAWN_REFUSED)?.execute(params![id, error])?;
                db.prepare_cached(SPAWN_REFUSED_ATTEMPT)?.execute(params![id, error, attempt])?;
                changes.moved(id, Some(JobState::Succeeded), JobState::Failed);
            }
            Err(other) => return Err(other),
        }
    }
    Ok(())
}
