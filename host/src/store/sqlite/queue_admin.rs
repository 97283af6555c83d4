//! An operator's look at a named queue: its oldest items without taking them, and emptying
//! it (`GET /v1/queues/{name}/items`, `DELETE /v1/queues/{name}`).

use std::time::SystemTime;

use rusqlite::{Connection, params};

use crate::store::rows::micros;
use crate::store::stats;
use crate::store::{QueueItem, Result};

const PEEK: &str = include_str!("sql/queue_peek.sql");

/// The oldest `limit` items, each cut to its first `preview` bytes.
pub fn peek(db: &Connection, queue: &str, limit: u32, preview: u32) -> Result<Vec<QueueItem>> {
    let now = micros(SystemTime::now());
    let found = db
        .prepare_cached(PEEK)?
        .query_map(params![queue, i64::from(limit), i64::from(preview)], |row| {
            Ok(QueueItem {
                id: row.get(0)?,
                size: row.get::<_, i64>(1)?.max(0) as u64,
                preview: row.get(2)?,
                age: stats::duration(now - row.get::<_, i64>(3)?),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(found)
}

/// Removes every item of the queue; returns how many (the queue is announced as changed,
/// so puts waiting for room wake).
pub fn purge(db: &Connection, queue: String, changed: &mut Vec<String>) -> Result<u64> {
    let removed =
        db.prepare_cached("DELETE FROM queue_items WHERE queue = ?")?.execute([&queue])?;
    if removed > 0 {
        changed.push(queue);
    }
    Ok(removed as u64)
}
