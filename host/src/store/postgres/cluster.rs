//! Cluster membership: a node row per incarnation of each host, its heartbeat, the rescue of
//! lost hosts' jobs, a graceful leave, the lanes the live hosts serve, and the cluster's
//! pause. The database's clock and row locks decide who is alive and who rescues.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row, Transaction};

use super::{PgStore, columns};
use crate::store::backend::Cluster;
use crate::store::changes::Changes;
use crate::store::rows;
use crate::store::{Beat, Heard, JobState, NodeRecord, Recovered, Rescued, Result, StoreError};

const NODE_JOIN: &str = include_str!("sql/node_join.sql");
const HEARTBEAT: &str = include_str!("sql/heartbeat.sql");
const GONE: &str = include_str!("sql/gone.sql");
const ORPHANS: &str = include_str!("sql/orphans.sql");
const LOSE: &str = include_str!("sql/lose.sql");
const RESCUE: &str = include_str!("sql/rescue.sql");
const LEAVE: &str = include_str!("sql/leave.sql");
const NODES: &str = include_str!("sql/nodes.sql");
const LANES_SERVED: &str = include_str!("sql/lanes_served.sql");
const SET_PAUSED: &str = include_str!("sql/set_paused.sql");

impl PgStore {
    /// Registers a new incarnation of this node. A live host with the same name refuses it,
    /// unless that host's lease has run out (then it is declared lost first).
    pub(super) async fn join(&self) -> Result<()> {
        for first in [true, false] {
            let node = &self.inner.node;
            let lanes: serde_json::Map<String, serde_json::Value> = node
                .lanes
                .iter()
                .map(|(name, workers)| (name.clone(), (*workers).into()))
                .collect();
            let joined = sqlx::query_scalar::<_, i64>(NODE_JOIN)
                .bind(&node.name)
                .bind(&node.address)
                .bind(&node.version)
                .bind(node.workers as i64)
                .bind(sqlx::types::Json(lanes))
                .fetch_one(self.pool())
                .await;
            match joined {
                Ok(id) => {
                    self.inner.me.store(id, Ordering::SeqCst);
                    return Ok(());
                }
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() && first => {
                    self.rescue(node.lease).await?;
                }
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    return Err(StoreError::NodeNameTaken(node.name.clone()));
                }
                Err(e) => return Err(e.into()),
            }
        }
        unreachable!("the loop returns")
    }

    /// Gives back the claims of this host that it does not hold (see `orphans.sql`).
    async fn release_orphans(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        holding: &[i64],
    ) -> Result<Changes> {
        let orphans: Vec<i64> = sqlx::query_scalar(ORPHANS)
            .bind(self.me())
            .bind(holding)
            .bind(self.inner.node.lease.as_micros() as i64)
            .fetch_all(&mut **tx)
            .await?;
        if !orphans.is_empty() {
            tracing::warn!(
                "{} job(s) claimed by this host that it never heard of went back to the queue",
                orphans.len()
            );
        }
        let mut changes = Changes::default();
        orphans.into_iter().for_each(|id| changes.became(id, JobState::Queued));
        Ok(changes)
    }
}

impl Cluster for PgStore {
    async fn heartbeat(&self, beat: Beat) -> Result<Heard> {
        let me = self.me();
        // A lost heartbeat is replaced by the next one within a second.
        let mut tx = self.begin_bookkeeping().await?;
        let paused: Option<(bool, i64)> = sqlx::query_as(HEARTBEAT)
            .bind(me)
            .bind(beat.busy as i64)
            .bind(sqlx::types::Json(&beat.pool))
            .bind(beat.draining)
            .fetch_optional(&mut *tx)
            .await?;
        let (ids, numbers, _) = columns(&beat.holding);
        let Some((paused, version)) = paused else {
            tx.commit().await?;
            // Declared lost: nothing this host holds is its own any more.
            return Ok(Heard { alive: false, gone: ids, paused: false });
        };
        let changes = self.release_orphans(&mut tx, &ids).await?;
        let gone: Vec<i64> =
            sqlx::query_scalar(GONE).bind(ids).bind(numbers).bind(me).fetch_all(&mut *tx).await?;
        self.commit(tx, changes).await?;
        self.inner.announce.pause_as_of(version, paused);
        Ok(Heard { alive: true, gone, paused })
    }

    async fn rejoin(&self) -> Result<()> {
        self.join().await
    }

    async fn rescue(&self, lease: Duration) -> Result<Rescued> {
        let mut tx = self.pool().begin().await?;
        let lost: Vec<(i64, String)> =
            sqlx::query_as(LOSE).bind(lease.as_micros() as f64).fetch_all(&mut *tx).await?;
        if lost.is_empty() {
            return Ok(Rescued::default());
        }
        let ids: Vec<i64> = lost.iter().map(|(id, _)| *id).collect();
        let moved: Vec<(i64, String, bool)> =
            sqlx::query_as(RESCUE).bind(&ids).fetch_all(&mut *tx).await?;
        let mut changes = Changes::default();
        let mut jobs = Recovered::default();
        let mut failed = Vec::new();
        for (id, state, unstarted) in moved {
            let state = rows::state(&state)?;
            match (state, unstarted) {
                (JobState::Queued, true) => jobs.released += 1,
                (JobState::Queued, false) => jobs.requeued += 1,
                _ => {
                    jobs.failed += 1;
                    failed.push(id);
                }
            }
            changes.became(id, state);
        }
        // A job failed with its lost host is a parent's end like any other.
        super::workflows::ended(&mut tx, failed, &mut changes).await?;
        self.commit(tx, changes).await?;
        Ok(Rescued { nodes: lost.into_iter().map(|(_, name)| name).collect(), jobs })
    }

    async fn leave(&self) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        let released: Vec<i64> =
            sqlx::query_scalar(LEAVE).bind(self.me()).fetch_all(&mut *tx).await?;
        let mut changes = Changes::default();
        released.into_iter().for_each(|id| changes.became(id, JobState::Queued));
        self.commit(tx, changes).await
    }

    async fn nodes(&self) -> Result<Vec<NodeRecord>> {
        let found = sqlx::query(NODES).fetch_all(self.pool()).await?;
        found.iter().map(node).collect()
    }

    async fn lanes_served(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(LANES_SERVED).fetch_all(self.pool()).await?)
    }

    async fn set_paused(&self, paused: bool) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        let version: i64 = sqlx::query_scalar(SET_PAUSED).bind(paused).fetch_one(&mut *tx).await?;
        self.commit(tx, Changes { paused: Some((paused, version)), ..Changes::default() }).await
    }
}

fn node(row: &PgRow) -> Result<NodeRecord> {
    let time = |column: &str| -> Result<SystemTime> { Ok(rows::time(row.try_get(column)?)) };
    Ok(NodeRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        address: row.try_get("address")?,
        version: row.try_get("version")?,
        workers: row.try_get::<i64, _>("workers")?.max(0) as u64,
        busy: row.try_get::<i64, _>("busy")?.max(0) as u64,
        pool: row.try_get::<sqlx::types::Json<serde_json::Value>, _>("pool")?.0,
        started_at: time("started_at")?,
        heartbeat_at: time("heartbeat_at")?,
        state: row.try_get("state")?,
    })
}
