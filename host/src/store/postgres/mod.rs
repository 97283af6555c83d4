//! The shared backend: one PostgreSQL database, many hosts.
//!
//! The database decides everything two hosts could disagree on: which host claims a job
//! (`FOR UPDATE SKIP LOCKED`), whether a host is alive (its heartbeat against the database's
//! `now()`), which host rescues a lost one's jobs (a conditional `UPDATE` on the node row),
//! and whether an attempt's write still counts (every write names its attempt and node
//! incarnation). Hosts hear of each other's changes through `LISTEN/NOTIFY` (`listen.rs`),
//! sent inside the transaction that made the change, so they arrive only after it commits.
//!
//! The contract's methods are filed by subject as SQLite's are (`jobs.rs`, `claims.rs`,
//! `bulk.rs`, `modules.rs`, `queues.rs`, `schedules.rs`, `reads.rs`, `stats.rs`), the
//! cluster's membership in `cluster.rs`; every statement is a file in `sql/`.

mod bulk;
mod claims;
mod cluster;
mod gate;
mod jobs;
mod limits;
mod listen;
mod modules;
mod queues;
mod reads;
mod schedules;
mod spawned;
mod stats;
mod tenants;
mod workflows;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres, Transaction};
use tokio_util::sync::CancellationToken;

use super::announce::Announce;
use super::changes::Changes;
use super::filter::Value;
use super::{Attempt, Durability, JobState, NodeInfo, Result, StoreError};

const NOTIFY: &str = include_str!("sql/notify.sql");
const PAUSE: &str = include_str!("sql/pause.sql");
const COMMIT_ASYNC: &str = include_str!("sql/commit_async.sql");

/// An idle connection closes after this, so a quiet host holds few (`serve --pg-connections`
/// bounds how many a busy one holds: its dispatchers' transactions in flight, the API's reads
/// and writes, the heartbeat, and the listener's own).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A call waits this long for a connection before answering "unavailable" (an API call gets
/// 503 rather than hanging while the database is down).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The PostgreSQL store handle; cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    announce: Announce,
    node: NodeInfo,
    /// This host's current incarnation: the node part of the attempts it claims.
    me: Arc<AtomicI64>,
    /// The last count per state, and when it was made (see `reads.rs`).
    counts: Mutex<Option<(Instant, BTreeMap<JobState, u64>)>>,
    /// Stops the listener when the last handle is dropped.
    stop: CancellationToken,
    /// The tenant each lane's claims served last (fair shares' round).
    rotation: super::fair::Rotation,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A failed first connection, with the server's address when the network said no
/// (`connection refused at 127.0.0.1:5432`).
fn unreachable_at(options: &PgConnectOptions, error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::Io(e) => StoreError::Unavailable(format!(
            "{} at {}:{}",
            e.kind(),
            options.get_host(),
            options.get_port()
        )),
        other => other.into(),
    }
}

impl PgStore {
    /// Connects, applies the schema (safely while other hosts start too: sqlx's migrator
    /// holds an advisory lock), joins the cluster as `node` and starts listening. With
    /// [`Durability::Log`] every connection of this host commits with `synchronous_commit =
    /// off`: a commit is answered once it is in the WAL buffers, and written within the WAL
    /// writer's delay (a crash of PostgreSQL or its machine may lose that much; of this host,
    /// nothing).
    pub async fn open_with(
        url: &str,
        node: &NodeInfo,
        announce: Announce,
        durability: Durability,
    ) -> Result<PgStore> {
        let mut options: PgConnectOptions = url.parse()?;
        if durability == Durability::Log {
            options = options.options([("synchronous_commit", "off")]);
        }
        // The pool retries a refused connection until ACQUIRE_TIMEOUT and then says only that
        // it timed out: one connection first fails at once, saying why and where.
        let first = PgConnection::connect_with(&options).await;
        first.map_err(|error| unreachable_at(&options, error))?.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(node.connections.max(4))
            .idle_timeout(IDLE_TIMEOUT)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        sqlx::migrate!("host/src/store/postgres/migrations").run(&pool).await?;
        let (paused, version): (bool, i64) = sqlx::query_as(PAUSE).fetch_one(&pool).await?;
        announce.pause_as_of(version, paused);
        let inner = Inner {
            pool,
            announce,
            node: node.clone(),
            me: Arc::new(AtomicI64::new(0)),
            counts: Mutex::new(None),
            stop: CancellationToken::new(),
            rotation: super::fair::Rotation::default(),
        };
        let store = PgStore { inner: Arc::new(inner) };
        store.join().await?;
        tokio::spawn(listen::run(
            store.inner.pool.clone(),
            store.inner.announce.clone(),
            store.inner.me.clone(),
            store.inner.stop.clone(),
        ));
        Ok(store)
    }

    fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    fn me(&self) -> i64 {
        self.inner.me.load(Ordering::SeqCst)
    }

    /// Announces the transaction's changes to the other hosts (delivered at commit), commits,
    /// then announces them here.
    async fn commit(&self, mut tx: Transaction<'_, Postgres>, changes: Changes) -> Result<()> {
        let payloads = listen::payloads(self.me(), &changes);
        // One statement however many payloads: a bulk action's 100k transitions are 500.
        if !payloads.is_empty() {
            sqlx::query(NOTIFY).bind(listen::CHANNEL).bind(payloads).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        self.inner.announce.committed(&changes);
        Ok(())
    }

    /// A transaction whose commit does not wait for the disk (see `sql/commit_async.sql`).
    async fn begin_bookkeeping(&self) -> Result<Transaction<'static, Postgres>> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(COMMIT_ASYNC).execute(&mut *tx).await?;
        Ok(tx)
    }

    /// Forgets the last count per state (a change that moved many jobs).
    fn forget_counts(&self) {
        self.inner.counts.lock().expect("counts lock").take();
    }
}

/// An attempt list as the three arrays the statements unnest.
fn columns(attempts: &[Attempt]) -> (Vec<i64>, Vec<i64>, Vec<i64>) {
    let ids = attempts.iter().map(|a| a.id).collect();
    let numbers = attempts.iter().map(|a| i64::from(a.number)).collect();
    let nodes = attempts.iter().map(|a| a.node_id).collect();
    (ids, numbers, nodes)
}

/// Binds a filter's values, in order, after the query's own.
fn bind<'q, Q: Bindable<'q>>(mut query: Q, values: &'q [Value]) -> Q {
    for value in values {
        query = match value {
            Value::Int(value) => query.bind_value(*value),
            Value::Text(text) => query.bind_value(text.as_str()),
        };
    }
    query
}

/// sqlx's query kinds that take bound values (`query`, `query_scalar`).
trait Bindable<'q>: Sized {
    fn bind_value<T>(self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>;
}

impl<'q> Bindable<'q> for sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    fn bind_value<T>(self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>,
    {
        self.bind(value)
    }
}

impl<'q, O> Bindable<'q>
    for sqlx::query::QueryScalar<'q, Postgres, O, sqlx::postgres::PgArguments>
{
    fn bind_value<T>(self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>,
    {
        self.bind(value)
    }
}
