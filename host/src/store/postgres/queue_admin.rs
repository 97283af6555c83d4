//! An operator's look at a named queue: its oldest items without taking them, and emptying
//! it (`GET /v1/queues/{name}/items`, `DELETE /v1/queues/{name}`).

use super::{Changes, PgStore};
use crate::store::stats;
use crate::store::{QueueItem, Result};

const PEEK: &str = include_str!("sql/queue_peek.sql");

impl PgStore {
    /// The oldest `limit` items, each cut to its first `preview` bytes.
    pub async fn queue_peek(
        &self,
        queue: &str,
        limit: u32,
        preview: u32,
    ) -> Result<Vec<QueueItem>> {
        let found: Vec<(i64, i64, Vec<u8>, i64)> = sqlx::query_as(PEEK)
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

    /// Removes every item of the queue; returns how many (announced as a change of the
    /// queue, so puts waiting for room wake, here and on the other hosts).
    pub async fn queue_purge(&self, queue: String) -> Result<u64> {
        let mut tx = self.pool().begin().await?;
        let removed = sqlx::query("DELETE FROM queue_items WHERE queue = $1")
            .bind(&queue)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let queues = if removed > 0 { vec![queue] } else { Vec::new() };
        self.commit(tx, Changes { queues, ..Changes::default() }).await?;
        Ok(removed)
    }
}
