//! Named queues on the writer's connection (put, take, put back, purge) and an operator's
//! look at one (`GET /v1/queues/{name}/items`, on a reader). A job's own put or take counts
//! only while its attempt is the job's current one.

use std::time::SystemTime;

use rusqlite::{Connection, params};

use super::SqliteStore;
use super::values::now;
use super::writer::Kind::Promised;
use crate::store::backend::Queues;
use crate::store::changes::Changes;
use crate::store::rows::micros;
use crate::store::stats;
use crate::store::{QueueItem, Result, Running, StoreError};

const CURRENT: &str = include_str!("sql/current.sql");
const QUEUE_LEN: &str = include_str!("sql/queue_len.sql");
const QUEUE_PUT: &str = include_str!("sql/queue_put.sql");
const QUEUE_TAKE: &str = include_str!("sql/queue_take.sql");
const QUEUE_RESTORE: &str = include_str!("sql/queue_restore.sql");
const QUEUE_PURGE: &str = include_str!("sql/queue_purge.sql");
const QUEUE_PEEK: &str = include_str!("sql/queue_peek.sql");

impl Queues for SqliteStore {
    async fn queue_put(
        &self,
        queue: String,
        item: Vec<u8>,
        capacity: u64,
        by: Option<Running>,
    ) -> Result<bool> {
        self.write(Promised, move |db, changes, _| put(db, queue, &item, capacity, by, changes))
            .await
    }

    async fn queue_take(
        &self,
        queue: String,
        by: Option<Running>,
    ) -> Result<Option<(i64, Vec<u8>)>> {
        self.write(Promised, move |db, changes, _| take(db, queue, by, changes)).await
    }

    async fn queue_restore(&self, queue: String, id: i64, item: Vec<u8>) -> Result<()> {
        self.write(Promised, move |db, changes, _| restore(db, queue, id, &item, changes)).await
    }

    async fn queue_purge(&self, queue: String) -> Result<u64> {
        self.write(Promised, move |db, changes, _| purge(db, queue, changes)).await
    }

    async fn queue_len(&self, queue: &str) -> Result<u64> {
        let queue = queue.to_string();
        self.reads.read(move |db| len(db, &queue)).await
    }

    async fn queue_peek(&self, queue: &str, limit: u32, preview: u32) -> Result<Vec<QueueItem>> {
        let queue = queue.to_string();
        self.reads.read(move |db| peek(db, &queue, limit, preview)).await
    }
}

/// Whether the attempt is still the job's current one.
fn current(db: &Connection, by: Running) -> Result<bool> {
    Ok(db.prepare_cached(CURRENT)?.exists(params![by.id, by.attempt])?)
}

fn len(db: &Connection, queue: &str) -> Result<u64> {
    let n: i64 = db.prepare_cached(QUEUE_LEN)?.query_row([queue], |row| row.get(0))?;
    Ok(n.max(0) as u64)
}

/// Appends an item unless the queue is full; a stale attempt's put is refused (before it
/// writes).
fn put(
    db: &Connection,
    queue: String,
    item: &[u8],
    capacity: u64,
    by: Option<Running>,
    changes: &mut Changes,
) -> Result<bool> {
    if let Some(by) = by
        && !current(db, by)?
    {
        return Err(StoreError::NotRunning(by.id));
    }
    if len(db, &queue)? >= capacity {
        return Ok(false);
    }
    db.prepare_cached(QUEUE_PUT)?.execute(params![queue, item, now()])?;
    changes.queues.push(queue);
    Ok(true)
}

fn take(
    db: &Connection,
    queue: String,
    by: Option<Running>,
    changes: &mut Changes,
) -> Result<Option<(i64, Vec<u8>)>> {
    if let Some(by) = by
        && !current(db, by)?
    {
        return Ok(None);
    }
    let taken = db
        .prepare_cached(QUEUE_TAKE)?
        .query_map([&queue], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?)))?
        .next()
        .transpose()?;
    if taken.is_some() {
        changes.queues.push(queue);
    }
    Ok(taken)
}

/// Puts a taken item back where it was (its id keeps its place in the queue).
fn restore(
    db: &Connection,
    queue: String,
    id: i64,
    item: &[u8],
    changes: &mut Changes,
) -> Result<()> {
    db.prepare_cached(QUEUE_RESTORE)?.execute(params![id, queue, item, now()])?;
    changes.queues.push(queue);
    Ok(())
}

/// Removes every item of the queue; returns how many (the queue is announced as changed,
/// so puts waiting for room wake).
fn purge(db: &Connection, queue: String, changes: &mut Changes) -> Result<u64> {
    let removed = db.prepare_cached(QUEUE_PURGE)?.execute([&queue])?;
    if removed > 0 {
        changes.queues.push(queue);
    }
    Ok(removed as u64)
}

/// The oldest `limit` items, each cut to its first `preview` bytes.
fn peek(db: &Connection, queue: &str, limit: u32, preview: u32) -> Result<Vec<QueueItem>> {
    let now = micros(SystemTime::now());
    let found = db
        .prepare_cached(QUEUE_PEEK)?
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
