//! Named queues (put, take, put back, purge) and an operator's look at one (`GET
//! /v1/queues/{name}/items`). A job's own put or take counts only while its attempt is the
//! job's current one on this host.

use sqlx::{Postgres, Transaction};

use super::PgStore;
use crate::store::backend::Queues;
use crate::store::changes::Changes;
use crate::store::stats;
use crate::store::{QueueItem, Result, Running, StoreError};

const CURRENT: &str = include_str!("sql/current.sql");
const QUEUE_LOCK: &str = include_str!("sql/queue_lock.sql");
const QUEUE_LEN: &str = include_str!("sql/queue_len.sql");
const QUEUE_PUT: &str = include_str!("sql/queue_put.sql");
const QUEUE_TAKE: &str = include_str!("sql/queue_take.sql");
const QUEUE_RESTORE: &str = include_str!("sql/queue_restore.sql");
const QUEUE_PURGE: &str = include_str!("sql/queue_purge.sql");
const QUEUE_PEEK: &str = include_str!("sql/queue_peek.sql");

impl PgStore {
    /// Whether `by` is still the job's current attempt on this host (locking the job's row,
    /// so a rescue cannot slip in before the caller's change commits).
    async fn current(&self, tx: &mut Transaction<'_, Postgres>, by: Running) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar(CURRENT)
            .bind(by.id)
            .bind(i64::from(by.attempt))
            .bind(self.me())
            .fetch_optional(&mut **tx)
            .await?;
        Ok(found.is_some())
    }
}

/// The changes of a transaction that changed queue `queue`.
fn queue_changed(queue: String) -> Changes {
    Changes { queues: vec![queue], ..Changes::default() }
}

impl Queues for PgStore {
    async fn queue_put(
        &self,
        queue: String,
        item: Vec<u8>,
        capacity: u64,
        by: Option<Running>,
    ) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        if let Some(by) = by
            && !self.current(&mut tx, by).await?
        {
            return Err(StoreError::NotRunning(by.id));
        }
        sqlx::query(QUEUE_LOCK).bind(&queue).execute(&mut *tx).await?;
        let len: i64 = sqlx::query_scalar(QUEUE_LEN).bind(&queue).fetch_one(&mut *tx).await?;
        if len as u64 >= capacity {
            return Ok(false);
        }
        sqlx::query(QUEUE_PUT).bind(&queue).bind(&item).execute(&mut *tx).await?;
        self.commit(tx, queue_changed(queue)).await?;
        Ok(true)
    }

    async fn queue_take(
        &self,
        queue: String,
        by: Option<Running>,
    ) -> Result<Option<(i64, Vec<u8>)>> {
        let mut tx = self.pool().begin().await?;
        if let Some(by) = by
            && !self.current(&mut tx, by).await?
        {
            return Ok(None);
        }
        let taken: Option<(i64, Vec<u8>)> =
            sqlx::query_as(QUEUE_TAKE).bind(&queue).fetch_optional(&mut *tx).await?;
        // An empty take changes nothing: telling the other waiters would wake them to take
        // nothing in turn, each telling the rest again, until their waits ran out.
        let changes = if taken.is_some() { queue_changed(queue) } else { Changes::default() };
        self.commit(tx, changes).await?;
        Ok(taken)
    }

    async fn queue_restore(&self, queue: String, id: i64, item: Vec<u8>) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(QUEUE_RESTORE).bind(id).bind(&queue).bind(&item).execute(&mut *tx).await?;
        self.commit(tx, queue_changed(queue)).await
    }

    /// Removes every item of the queue; returns how many (announced as a change of the
    /// queue, so puts waiting for room wake, here and on the other hosts).
    async fn queue_purge(&self, queue: String) -> Result<u64> {
        let mut tx = self.pool().begin().await?;
        let removed =
            sqlx::query(QUEUE_PURGE).bind(&queue).execute(&mut *tx).await?.rows_affected();
        let queues = if removed > 0 { vec![queue] } else { Vec::new() };
        self.commit(tx, Changes { queues, ..Changes::default() }).await?;
        Ok(removed)
    }

    async fn queue_len(&self, queue: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(QUEUE_LEN).bind(queue).fetch_one(self.pool()).await?;
        Ok(n.max(0) as u64)
    }

    /// The oldest `limit` items, each cut to its first `preview` bytes.
    async fn queue_peek(&self, queue: &str, limit: u32, preview: u32) -> Result<Vec<QueueItem>> {
        let found: Vec<(i64, i64, Vec<u8>, i64)> = sqlx::query_as(QUEUE_PEEK)
            .bind(queue)
            .bind(i64::from(limit))
            .bind(i32::try_from(preview).unwrap_or(i32::MAX))
            .fetch_all(self.pool())
            .await?;
        Ok(found
            .into_iter()
            .map(|(id, size, preview, age)| QueueItem {
                id,
                size: size.max(0) as u64,
                preview,
                age: stats::duration(age),
            })
            .collect())
    }
}
