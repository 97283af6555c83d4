//! Jobs spawned by running attempts (`wasmpool:task/workflow.spawn`), written in the
//! transaction that records the spawner's fenced result (`claims::finish`), only when it
//! succeeded: a failed or retried attempt, or a stale host's late result (its UPDATE matched
//! nothing), writes none. Each spawner's jobs go through the submission of a workflow
//! (`workflows::submit`, which locks the spawner's row as any parent's) under a savepoint of
//! their own, so jobs the store refuses then (their module deleted since the spawn, the
//! workflow past its maximum) roll back alone and end their spawner `failed`, saying why.

use sqlx::{Postgres, Transaction};

use crate::store::changes::Changes;
use crate::store::{Finished, JobId, JobState, Result, StoreError};

const SPAWN_REFUSED: &str = include_str!("sql/spawn_refused.sql");

/// Writes the jobs spawned by the attempts of `finished` whose result was recorded
/// (`recorded`) and that succeeded.
pub(super) async fn write(
    tx: &mut Transaction<'_, Postgres>,
    finished: &[Finished],
    recorded: &[JobId],
    changes: &mut Changes,
) -> Result<()> {
    for end in finished.iter().filter(|end| recorded.contains(&end.id())) {
        let Some(spawned) = end.spawned.as_deref() else { continue };
        if end.next_state() != JobState::Succeeded || spawned.jobs.is_empty() {
            continue;
        }
        sqlx::query("SAVEPOINT spawned").execute(&mut **tx).await?;
        let mut written = Changes::default();
        match super::workflows::submit(tx, &spawned.jobs, spawned.limits, &mut written).await {
            Ok(_) => {
                sqlx::query("RELEASE SAVEPOINT spawned").execute(&mut **tx).await?;
                changes.absorb(written);
            }
            Err(refused @ (StoreError::Graph(_) | StoreError::UnknownModule(_))) => {
                sqlx::query("ROLLBACK TO SAVEPOINT spawned").execute(&mut **tx).await?;
                let error = format!("the jobs it spawned could not be submitted: {refused}");
                sqlx::query(SPAWN_REFUSED)
                    .bind(end.id())
                    .bind(&error)
                    .bind(i64::from(end.attempt.number))
                    .execute(&mut **tx)
                    .await?;
                changes.became(end.id(), JobState::Failed);
            }
            Err(other) => return Err(other),
        }
    }
    Ok(())
}
