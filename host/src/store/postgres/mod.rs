//! The shared backend: one PostgreSQL database, many hosts.
//!
//! The database decides everything two hosts could disagree on: which host claims a job
//! (`FOR UPDATE SKIP LOCKED`), whether a host is alive (its heartbeat against the database's
//! `now()`), which host rescues a lost one's jobs (a conditional `UPDATE` on the node row),
//! and whether an attempt's write still counts (every write names its attempt and node
//! incarnation). Hosts hear of each other's changes through `LISTEN/NOTIFY` (`listen.rs`),
//! sent inside the transaction that made the change, so they arrive only after it commits.

mod delete;
mod listen;
mod queue_admin;
mod schedules;
mod stats;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Postgres, Row, Transaction};
use tokio_util::sync::CancellationToken;

use super::announce::Announce;
use super::filter::{self, Dialect, Value};
use super::rows::{self, micros};
use super::{
    Attempt, AttemptRecord, Beat, Bulk, Cancel, Change, Claimed, Durability, Finished, Heard,
    JobBrief, JobEvent, JobFilter, JobId, JobRecord, JobSummaryRecord, LaneCount, ModuleRecord,
    NewJob, NodeInfo, NodeRecord, Recovered, Rescued, Result, Running, StoreError,
};
use crate::job::ModuleKind;
use crate::wire::JobState;

const CLAIM: &str = include_str!("sql/claim.sql");
const CLAIM_CAPPED: &str = include_str!("sql/claim_capped.sql");
const CAPPED: &str = include_str!("sql/capped.sql");
const FINISH: &str = include_str!("sql/finish.sql");
const START: &str = include_str!("sql/start.sql");
const RELEASE: &str = include_str!("sql/release.sql");
const HEARTBEAT: &str = include_str!("sql/heartbeat.sql");
const GONE: &str = include_str!("sql/gone.sql");
const ORPHANS: &str = include_str!("sql/orphans.sql");
const LOSE: &str = include_str!("sql/lose.sql");
const RESCUE: &str = include_str!("sql/rescue.sql");
const LEAVE: &str = include_str!("sql/leave.sql");
const INSERT: &str = include_str!("sql/insert.sql");
const INSERT_KEYED: &str = include_str!("sql/insert_keyed.sql");
const MODULES: &str = include_str!("sql/modules.sql");
const JOBS: &str = include_str!("sql/jobs.sql");
const COUNT_MATCHING: &str = include_str!("sql/count_matching.sql");
const BRIEFS: &str = include_str!("sql/briefs.sql");
const RETRY: &str = include_str!("sql/retry.sql");
const CANCEL: &str = include_str!("sql/cancel.sql");
const ATTEMPTS: &str = include_str!("sql/attempts.sql");
const NODES: &str = include_str!("sql/nodes.sql");
const QUEUE_TAKE: &str = include_str!("sql/queue_take.sql");

/// An idle connection closes after this, so a quiet host holds few (`serve --pg-connections`
/// bounds how many a busy one holds: its dispatchers' transactions in flight, the API's reads
/// and writes, the heartbeat, and the listener's own).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A call waits this long for a connection before answering "unavailable" (an API call gets
/// 503 rather than hanging while the database is down).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// Tries of a bulk change that PostgreSQL ended to break a deadlock.
const BULK_TRIES: u32 = 5;
/// Counts per state are recounted at most this often; calls in between get the last count.
const COUNTS_FRESH: Duration = Duration::from_millis(250);

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
    counts: Mutex<Option<(Instant, BTreeMap<JobState, u64>)>>,
    /// Stops the listener when the last handle is dropped.
    stop: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// What a transaction changed, announced (here and to the other hosts) once it commits.
#[derive(Default)]
struct Changes {
    jobs: Vec<JobEvent>,
    queues: Vec<String>,
    /// The pause as set, and its version.
    paused: Option<(bool, i64)>,
    /// Whether schedules were created, changed or deleted.
    schedules: bool,
    /// Running jobs of capped modules that ended (or caps raised): dispatchers wake for them.
    freed: u64,
}

impl Changes {
    fn moved(&mut self, id: JobId, state: JobState) {
        self.jobs.push(JobEvent { id, state });
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
        let (paused, version): (bool, i64) =
            sqlx::query_as("SELECT paused, pause_version FROM cluster WHERE id = 1")
                .fetch_one(&pool)
                .await?;
        announce.pause_as_of(version, paused);
        let inner = Inner {
            pool,
            announce,
            node: node.clone(),
            me: Arc::new(AtomicI64::new(0)),
            counts: Mutex::new(None),
            stop: CancellationToken::new(),
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

    /// Registers a new incarnation of this node. A live host with the same name refuses it,
    /// unless that host's lease has run out (then it is declared lost first).
    async fn join(&self) -> Result<()> {
        for first in [true, false] {
            let node = &self.inner.node;
            let lanes: serde_json::Map<String, serde_json::Value> = node
                .lanes
                .iter()
                .map(|(name, workers)| (name.clone(), (*workers).into()))
                .collect();
            let joined = sqlx::query_scalar::<_, i64>(
                "INSERT INTO nodes (name, address, version, workers, lanes, state)
                 VALUES ($1, $2, $3, $4, $5, 'alive') RETURNING id",
            )
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

    /// Joins again as a new incarnation after being declared lost.
    pub async fn rejoin(&self) -> Result<()> {
        self.join().await
    }

    /// Announces the transaction's changes to the other hosts (delivered at commit), commits,
    /// then announces them here.
    async fn commit(&self, mut tx: Transaction<'_, Postgres>, changes: Changes) -> Result<()> {
        let payloads = listen::payloads(
            self.me(),
            &changes.jobs,
            &changes.queues,
            changes.paused,
            changes.schedules,
            changes.freed,
        );
        // One statement however many payloads: a bulk action's 100k transitions are 500.
        if !payloads.is_empty() {
            sqlx::query("SELECT pg_notify($1, payload) FROM UNNEST($2::TEXT[]) AS payload")
                .bind(listen::CHANNEL)
                .bind(payloads)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        if let Some((paused, version)) = changes.paused {
            self.inner.announce.pause_as_of(version, paused);
        }
        if changes.schedules {
            self.inner.announce.schedules_changed();
        }
        self.inner.announce.publish(&changes.jobs, &changes.queues, changes.freed);
        Ok(())
    }

    /// Whether `by` is still the job's current attempt on this host (locking the job's row,
    /// so a rescue cannot slip in before the caller's change commits).
    async fn current(&self, tx: &mut Transaction<'_, Postgres>, by: Running) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM jobs WHERE id = $1 AND state = 'running' AND attempts = $2
                 AND node_id = $3 FOR SHARE",
        )
        .bind(by.id)
        .bind(i64::from(by.attempt))
        .bind(self.me())
        .fetch_optional(&mut **tx)
        .await?;
        Ok(found.is_some())
    }

    pub async fn queue_put(
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
        // Puts to one queue take turns, so two hosts cannot both see room for one item.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(&queue)
            .execute(&mut *tx)
            .await?;
        let len: i64 = sqlx::query_scalar("SELECT count(*) FROM queue_items WHERE queue = $1")
            .bind(&queue)
            .fetch_one(&mut *tx)
            .await?;
        if len as u64 >= capacity {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO queue_items (queue, item, put_at) VALUES ($1, $2, wasmpool_now())",
        )
        .bind(&queue)
        .bind(&item)
        .execute(&mut *tx)
        .await?;
        self.commit(tx, Changes { queues: vec![queue], ..Changes::default() }).await?;
        Ok(true)
    }

    pub async fn queue_take(
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
        let changes = Changes { queues: vec![queue], ..Changes::default() };
        self.commit(tx, changes).await?;
        Ok(taken)
    }

    pub async fn queue_restore(&self, queue: String, id: i64, item: Vec<u8>) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO queue_items (id, queue, item, put_at) VALUES ($1, $2, $3, wasmpool_now())
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(&queue)
        .bind(&item)
        .execute(&mut *tx)
        .await?;
        self.commit(tx, Changes { queues: vec![queue], ..Changes::default() }).await
    }

    /// Only the attempt this host runs may report progress.
    pub async fn progress(&self, by: Running, percent: u8, message: String) -> Result<()> {
        sqlx::query(
            "UPDATE jobs SET progress_percent = $1, progress_message = $2
             WHERE id = $3 AND state = 'running' AND attempts = $4 AND node_id = $5",
        )
        .bind(i64::from(percent.min(100)))
        .bind(message)
        .bind(by.id)
        .bind(i64::from(by.attempt))
        .bind(self.me())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn queue_len(&self, queue: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM queue_items WHERE queue = $1")
            .bind(queue)
            .fetch_one(self.pool())
            .await?;
        Ok(n.max(0) as u64)
    }

    /// The bytes are stored with the module, so any host can compile it.
    pub async fn put_module(
        &self,
        hash: String,
        kind: ModuleKind,
        bytes: &[u8],
        name: Option<String>,
        exports: Option<String>,
    ) -> Result<(ModuleRecord, bool)> {
        let mut tx = self.pool().begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO modules (hash, kind, size, created_at, bytes)
             VALUES ($1, $2, $3, wasmpool_now(), $4) ON CONFLICT (hash) DO NOTHING",
        )
        .bind(&hash)
        .bind(kind.as_str())
        .bind(bytes.len() as i64)
        .bind(bytes)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if let Some(exports) = exports {
            sqlx::query("UPDATE modules SET exports = $1 WHERE hash = $2")
                .bind(exports)
                .bind(&hash)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(name) = name {
            sqlx::query(
                "INSERT INTO module_names (name, hash, updated_at) VALUES ($1, $2, wasmpool_now())
                 ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at",
            )
            .bind(name)
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
        }
        let row = sqlx::query(&format!("{MODULES} WHERE m.hash = $1"))
            .bind(&hash)
            .fetch_one(&mut *tx)
            .await?;
        let record = rows::module(&row)?;
        tx.commit().await?;
        Ok((record, inserted == 1))
    }

    pub async fn module_bytes(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar("SELECT bytes FROM modules WHERE hash = $1")
            .bind(hash)
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn delete_module(&self, hash: String) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        // Lock the module so no submission naming it commits between the check and the delete.
        sqlx::query("SELECT 1 FROM modules WHERE hash = $1 FOR UPDATE")
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
        let jobs: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM jobs WHERE module_hash = $1 AND state IN ('queued', 'running')",
        )
        .bind(&hash)
        .fetch_one(&mut *tx)
        .await?;
        if jobs > 0 {
            return Err(StoreError::ModuleInUse { hash, jobs: jobs as u64 });
        }
        sqlx::query("DELETE FROM modules WHERE hash = $1").bind(&hash).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn submit(&self, jobs: Vec<NewJob>) -> Result<Vec<(JobId, JobState)>> {
        let mut tx = self.pool().begin().await?;
        let mut modules: Vec<&str> = jobs.iter().map(|job| job.module_hash.as_str()).collect();
        modules.sort_unstable();
        modules.dedup();
        // FOR SHARE: a module cannot be deleted while a submission naming it commits.
        let known: Vec<String> =
            sqlx::query_scalar("SELECT hash FROM modules WHERE hash = ANY($1) FOR SHARE")
                .bind(&modules)
                .fetch_all(&mut *tx)
                .await?;
        if let Some(missing) = modules.iter().find(|hash| !known.iter().any(|k| k == *hash)) {
            return Err(StoreError::UnknownModule(missing.to_string()));
        }
        let mut changes = Changes::default();
        let mut accepted = Vec::with_capacity(jobs.len());
        let mut rest = jobs.as_slice();
        while !rest.is_empty() {
            let run = rest.iter().take_while(|job| job.idempotency_key.is_none()).count();
            if run == 0 {
                accepted.push(insert_keyed(&mut tx, &rest[0], &mut changes).await?);
                rest = &rest[1..];
            } else {
                accepted.extend(insert(&mut tx, &rest[..run], &mut changes).await?);
                rest = &rest[run..];
            }
        }
        self.commit(tx, changes).await?;
        Ok(accepted)
    }

    pub async fn finish_and_claim(
        &self,
        started: Vec<(Attempt, SystemTime)>,
        finished: Vec<Finished>,
        lane: &str,
        limit: usize,
    ) -> Result<Claimed> {
        // Read before the claim's snapshot: a job queued after it is announced after this.
        let seen = self.inner.announce.queued_so_far();
        let mut tx = self.pool().begin().await?;
        // Losing this commit in a database crash costs at most a job run again: its attempt
        // is rescued as if its host were lost.
        sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
        let mut changes = Changes::default();
        start(&mut tx, &started).await?;
        finish(&mut tx, &finished, &mut changes).await?;
        let jobs = if limit == 0 { Vec::new() } else { self.claim(&mut tx, lane, limit).await? };
        for job in &jobs {
            changes.moved(job.id, JobState::Running);
        }
        self.commit(tx, changes).await?;
        Ok(Claimed { jobs, seen })
    }

    /// Claims for this host. With no capped module that is one statement (`claim.sql`).
    /// Otherwise the capped modules with room are locked first (a transaction-level advisory
    /// lock each, in hash order, so claims never deadlock and submissions are not held up),
    /// and the claim counts their room in a snapshot taken after it holds the locks.
    async fn claim(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        lane: &str,
        limit: usize,
    ) -> Result<Vec<JobRecord>> {
        let capped: Vec<(String, i64, bool)> = sqlx::query_as(CAPPED).fetch_all(&mut **tx).await?;
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
                sqlx::query(
                    "SELECT pg_advisory_xact_lock(hashtextextended('wasmpool.cap.' || hash, 0))
                     FROM UNNEST($1::TEXT[]) WITH ORDINALITY AS m (hash, n) ORDER BY n",
                )
                .bind(&hashes)
                .execute(&mut **tx)
                .await?;
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
        jobs.sort_by_key(|job| (std::cmp::Reverse(job.priority), job.id));
        Ok(jobs)
    }

    /// Locks a job's row and reads its state.
    async fn lock_state(tx: &mut Transaction<'_, Postgres>, id: JobId) -> Result<Option<JobState>> {
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
        state.map(|s| s.parse().map_err(StoreError::Corrupt)).transpose()
    }

    pub async fn cancel(&self, id: JobId) -> Result<Cancel> {
        let mut tx = self.pool().begin().await?;
        let Some(state) = Self::lock_state(&mut tx, id).await? else { return Ok(Cancel::NotFound) };
        if state.is_terminal() {
            return Ok(Cancel::AlreadyEnded(state));
        }
        let (_, capped): (i64, bool) = sqlx::query_as(&CANCEL.replace("{where}", "id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let mut changes = Changes::default();
        changes.moved(id, JobState::Cancelled);
        if capped && state == JobState::Running {
            changes.freed += 1;
        }
        self.commit(tx, changes).await?;
        Ok(Cancel::Cancelled(state))
    }

    pub async fn retry(&self, id: JobId) -> Result<Change> {
        let mut tx = self.pool().begin().await?;
        let Some(state) = Self::lock_state(&mut tx, id).await? else { return Ok(Change::NotFound) };
        if !state.can_become(JobState::Queued) || state == JobState::Running {
            return Ok(Change::Refused(state));
        }
        sqlx::query(&RETRY.replace("{where}", "id = $1")).bind(id).execute(&mut *tx).await?;
        let mut changes = Changes::default();
        changes.moved(id, JobState::Queued);
        self.commit(tx, changes).await?;
        Ok(Change::Done)
    }

    /// Cancels the selected queued, then running, jobs.
    pub async fn cancel_matching(&self, filter: &JobFilter) -> Result<Bulk> {
        let states = JobState::CANCELLABLE;
        self.change_matching_retried(filter, CANCEL, &states, JobState::Cancelled).await
    }

    /// Queues the selected ended jobs again.
    pub async fn retry_matching(&self, filter: &JobFilter) -> Result<Bulk> {
        let states = JobState::RETRYABLE;
        self.change_matching_retried(filter, RETRY, &states, JobState::Queued).await
    }

    /// [`Self::change_matching`], again after a short random pause when PostgreSQL ended it
    /// to break a deadlock with a concurrent change (rows are locked in id order, but a
    /// host's own writes lock theirs in another), up to [`BULK_TRIES`] times.
    async fn change_matching_retried(
        &self,
        filter: &JobFilter,
        template: &str,
        states: &[JobState],
        to: JobState,
    ) -> Result<Bulk> {
        let mut tries = 1;
        loop {
            match self.change_matching(filter, template, states, to).await {
                Err(StoreError::Conflict(reason)) if tries < BULK_TRIES => {
                    tracing::debug!("a bulk change met a concurrent one, trying again: {reason}");
                    let pause = rand::random_range(10..50u64) * tries as u64;
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                    tries += 1;
                }
                other => return other,
            }
        }
    }

    /// Runs `template` on the jobs the filter selects, one statement per state of `states`
    /// it allows (so each changed job's former state is known), in one transaction. Each
    /// statement is as long as the filter, not as the list of jobs it changes; its row
    /// locks last until the commit.
    async fn change_matching(
        &self,
        filter: &JobFilter,
        template: &str,
        states: &[JobState],
        to: JobState,
    ) -> Result<Bulk> {
        let mut tx = self.pool().begin().await?;
        let clause = filter::clause(filter, Dialect::Postgres, 1);
        let count = format!("SELECT count(*) FROM jobs WHERE {}", clause.sql);
        let matched: i64 =
            bind(sqlx::query_scalar(&count), &clause.values).fetch_one(&mut *tx).await?;
        // $1 is the state; the filter's placeholders follow. The rows are locked in id order,
        // so two bulk changes wait for each other instead of deadlocking.
        let clause = filter::clause(filter, Dialect::Postgres, 2);
        let locked = format!(
            "id IN (SELECT id FROM jobs WHERE state = $1 AND {} ORDER BY id FOR UPDATE)",
            clause.sql
        );
        let sql = template.replace("{where}", &locked);
        let mut changed = Vec::new();
        let mut changes = Changes::default();
        for &state in states.iter().filter(|&&state| filter.state.is_none_or(|only| only == state))
        {
            let query = sqlx::query_scalar::<_, i64>(&sql).bind(state.as_str());
            let ids = bind(query, &clause.values).fetch_all(&mut *tx).await?;
            if to == JobState::Cancelled && state == JobState::Running {
                // Cancelled running jobs may free slots of capped modules: wake the claims.
                changes.freed += ids.len() as u64;
            }
            for id in ids {
                changes.moved(id, to);
                changed.push((id, state));
            }
        }
        self.commit(tx, changes).await?;
        self.forget_counts();
        Ok(Bulk { matched: (matched.max(0) as u64).max(changed.len() as u64), changed })
    }

    pub async fn delete_job(&self, id: JobId) -> Result<Change> {
        let mut tx = self.pool().begin().await?;
        let Some(state) = Self::lock_state(&mut tx, id).await? else { return Ok(Change::NotFound) };
        if !state.is_terminal() {
            return Ok(Change::Refused(state));
        }
        sqlx::query("DELETE FROM jobs WHERE id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM attempts WHERE job_id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        self.forget_counts();
        Ok(Change::Done)
    }

    pub async fn release(&self, attempts: Vec<Attempt>) -> Result<()> {
        if attempts.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool().begin().await?;
        let (ids, numbers, nodes) = columns(&attempts);
        let released: Vec<i64> = sqlx::query_scalar(RELEASE)
            .bind(ids)
            .bind(numbers)
            .bind(nodes)
            .fetch_all(&mut *tx)
            .await?;
        let mut changes = Changes::default();
        released.into_iter().for_each(|id| changes.moved(id, JobState::Queued));
        self.commit(tx, changes).await
    }

    pub async fn purge(&self, cutoff: SystemTime) -> Result<u64> {
        // The jobs and their histories together, in one statement.
        let purged = sqlx::query(
            "WITH purged AS (
                 DELETE FROM jobs WHERE finished_at < $1 AND state NOT IN ('queued', 'running')
                 RETURNING id
             ), history AS (DELETE FROM attempts WHERE job_id IN (SELECT id FROM purged))
             SELECT 1 FROM purged",
        )
        .bind(micros(cutoff))
        .execute(self.pool())
        .await?
        .rows_affected();
        if purged > 0 {
            self.forget_counts();
        }
        Ok(purged)
    }

    pub async fn job(&self, id: JobId) -> Result<Option<JobRecord>> {
        let row = sqlx::query("SELECT * FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(rows::job).transpose()
    }

    pub async fn jobs(&self, filter: &JobFilter) -> Result<Vec<JobSummaryRecord>> {
        let clause = filter::clause(filter, Dialect::Postgres, 2);
        let sql = JOBS.replace("{filter}", &clause.sql);
        let query = sqlx::query(&sql).bind(i64::from(filter.limit));
        let found = bind(query, &clause.values).fetch_all(self.pool()).await?;
        found.iter().map(super::summary::summary).collect()
    }

    pub async fn count_matching(&self, filter: &JobFilter) -> Result<BTreeMap<JobState, u64>> {
        let clause = filter::clause(filter, Dialect::Postgres, 1);
        let sql = COUNT_MATCHING.replace("{filter}", &clause.sql);
        let found = bind(sqlx::query(&sql), &clause.values).fetch_all(self.pool()).await?;
        let found = found
            .iter()
            .map(|row| Ok((row.try_get::<String, _>("state")?, row.try_get::<i64, _>("n")?)))
            .collect::<Result<Vec<_>>>()?;
        rows::state_counts(found)
    }

    pub async fn attempts(&self, ids: &[JobId]) -> Result<BTreeMap<JobId, Vec<AttemptRecord>>> {
        let mut history: BTreeMap<JobId, Vec<AttemptRecord>> = BTreeMap::new();
        if ids.is_empty() {
            return Ok(history);
        }
        for row in sqlx::query(ATTEMPTS).bind(ids).fetch_all(self.pool()).await? {
            let (id, attempt) = rows::attempt(&row)?;
            history.entry(id).or_default().push(attempt);
        }
        Ok(history)
    }

    pub async fn briefs(&self, ids: &[JobId]) -> Result<Vec<JobBrief>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let found = sqlx::query(BRIEFS).bind(ids).fetch_all(self.pool()).await?;
        found.iter().map(brief).collect()
    }

    pub async fn module(&self, hash_or_name: &str) -> Result<Option<ModuleRecord>> {
        let query = format!(
            "{MODULES} WHERE m.hash = $1 OR m.hash = (SELECT hash FROM module_names WHERE name = $1)"
        );
        let row = sqlx::query(&query).bind(hash_or_name).fetch_optional(self.pool()).await?;
        row.as_ref().map(rows::module).transpose()
    }

    pub async fn modules(&self) -> Result<Vec<ModuleRecord>> {
        let query = format!("{MODULES} ORDER BY m.created_at DESC");
        let found = sqlx::query(&query).fetch_all(self.pool()).await?;
        found.iter().map(rows::module).collect()
    }

    /// Counted by the database (every host's jobs), at most every [`COUNTS_FRESH`].
    pub async fn counts(&self) -> Result<BTreeMap<JobState, u64>> {
        if let Some((at, counts)) = &*self.inner.counts.lock().expect("counts lock")
            && at.elapsed() < COUNTS_FRESH
        {
            return Ok(counts.clone());
        }
        let found: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, count(*) FROM jobs GROUP BY state")
                .fetch_all(self.pool())
                .await?;
        let mut counts: BTreeMap<JobState, u64> =
            JobState::ALL.into_iter().map(|s| (s, 0)).collect();
        for (state, count) in found {
            if let Ok(state) = state.parse() {
                counts.insert(state, count.max(0) as u64);
            }
        }
        *self.inner.counts.lock().expect("counts lock") = Some((Instant::now(), counts.clone()));
        Ok(counts)
    }

    fn forget_counts(&self) {
        self.inner.counts.lock().expect("counts lock").take();
    }

    /// The earliest time a queued job of the lane falls due, among those not due yet.
    pub async fn next_due(&self, lane: &str) -> Result<Option<SystemTime>> {
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT min(not_before) FROM jobs
             WHERE lane = $1 AND state = 'queued' AND not_before > wasmpool_now()",
        )
        .bind(lane)
        .fetch_one(self.pool())
        .await?;
        Ok(due.map(rows::time))
    }

    /// Raising or clearing a cap wakes every host's dispatchers.
    pub async fn set_max_running(
        &self,
        hash: String,
        max_running: Option<u32>,
    ) -> Result<Option<ModuleRecord>> {
        let mut tx = self.pool().begin().await?;
        let updated = sqlx::query("UPDATE modules SET max_running = $1 WHERE hash = $2")
            .bind(max_running.map(i64::from))
            .bind(&hash)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if updated == 0 {
            return Ok(None);
        }
        let row = sqlx::query(&format!("{MODULES} WHERE m.hash = $1"))
            .bind(&hash)
            .fetch_one(&mut *tx)
            .await?;
        let record = rows::module(&row)?;
        self.commit(tx, Changes { freed: 1, ..Changes::default() }).await?;
        Ok(Some(record))
    }

    pub async fn lane_counts(&self) -> Result<BTreeMap<String, LaneCount>> {
        let found: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT lane, state, count(*) FROM jobs WHERE state IN ('queued', 'running')
             GROUP BY lane, state",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows::lane_counts(found))
    }

    /// The lanes some live host serves.
    pub async fn lanes_served(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT jsonb_object_keys(lanes) AS lane FROM nodes WHERE state = 'alive'
             ORDER BY lane",
        )
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn set_paused(&self, paused: bool) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        let version: i64 = sqlx::query_scalar(
            "UPDATE cluster SET paused = $1, pause_version = pause_version + 1 WHERE id = 1 \
             RETURNING pause_version",
        )
        .bind(paused)
        .fetch_one(&mut *tx)
        .await?;
        self.commit(tx, Changes { paused: Some((paused, version)), ..Changes::default() }).await
    }

    pub async fn heartbeat(&self, beat: Beat) -> Result<Heard> {
        let me = self.me();
        let mut tx = self.pool().begin().await?;
        // A lost heartbeat is replaced by the next one within a second.
        sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
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
        orphans.into_iter().for_each(|id| changes.moved(id, JobState::Queued));
        Ok(changes)
    }

    pub async fn rescue(&self, lease: Duration) -> Result<Rescued> {
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
        for (id, state, unstarted) in moved {
            let state: JobState = state.parse().map_err(StoreError::Corrupt)?;
            match (state, unstarted) {
                (JobState::Queued, true) => jobs.released += 1,
                (JobState::Queued, false) => jobs.requeued += 1,
                _ => jobs.failed += 1,
            }
            changes.moved(id, state);
        }
        self.commit(tx, changes).await?;
        Ok(Rescued { nodes: lost.into_iter().map(|(_, name)| name).collect(), jobs })
    }

    pub async fn leave(&self) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        let released: Vec<i64> =
            sqlx::query_scalar(LEAVE).bind(self.me()).fetch_all(&mut *tx).await?;
        let mut changes = Changes::default();
        released.into_iter().for_each(|id| changes.moved(id, JobState::Queued));
        self.commit(tx, changes).await
    }

    pub async fn nodes(&self) -> Result<Vec<NodeRecord>> {
        let found = sqlx::query(NODES).fetch_all(self.pool()).await?;
        found.iter().map(node).collect()
    }
}

/// An attempt list as the three arrays the statements unnest.
fn columns(attempts: &[Attempt]) -> (Vec<i64>, Vec<i64>, Vec<i64>) {
    let ids = attempts.iter().map(|a| a.id).collect();
    let numbers = attempts.iter().map(|a| i64::from(a.number)).collect();
    let nodes = attempts.iter().map(|a| a.node_id).collect();
    (ids, numbers, nodes)
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
    let state = |end: &Finished| match end.retry_at {
        Some(_) => JobState::Queued.as_str(),
        None => end.state.as_str(),
    };
    let updated: Vec<(i64, String, bool)> = sqlx::query_as(FINISH)
        .bind(ids)
        .bind(numbers)
        .bind(nodes)
        .bind(finished.iter().map(state).collect::<Vec<_>>())
        .bind(finished.iter().map(|end| end.retry_at.map(micros)).collect::<Vec<_>>())
        .bind(finished.iter().map(|end| micros(end.started_at)).collect::<Vec<_>>())
        .bind(finished.iter().map(|end| micros(end.finished_at)).collect::<Vec<_>>())
        .bind(finished.iter().map(|end| end.worker_pid.map(i64::from)).collect::<Vec<_>>())
        .bind(finished.iter().map(|end| end.exit_code.map(i64::from)).collect::<Vec<_>>())
        .bind(finished.iter().map(|end| end.stdout.as_slice()).collect::<Vec<_>>())
        .bind(finished.iter().map(|end| end.stderr.as_slice()).collect::<Vec<_>>())
        .bind(finished.iter().map(|end| end.stdout_truncated).collect::<Vec<_>>())
        .bind(finished.iter().map(|end| end.stderr_truncated).collect::<Vec<_>>())
        .bind(finished.iter().map(|end| end.error.as_deref()).collect::<Vec<_>>())
        .bind(finished.iter().map(|end| end.fuel_used.map(|f| f as i64)).collect::<Vec<_>>())
        .bind(finished.iter().map(|end| end.peak_memory_bytes as i64).collect::<Vec<_>>())
        .bind(finished.iter().map(|end| end.state.as_str()).collect::<Vec<_>>())
        .bind(finished.iter().map(|end| end.result.as_deref()).collect::<Vec<_>>())
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
    for (id, state, capped) in updated {
        changes.moved(id, state.parse().map_err(StoreError::Corrupt)?);
        changes.freed += u64::from(capped);
    }
    Ok(())
}

/// Arguments and environments are stored as JSON text (as on SQLite, so one decoder serves).
fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("strings serialise")
}

/// Inserts a batch of jobs without idempotency keys: one array per column of `insert.sql`.
async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    jobs: &[NewJob],
    changes: &mut Changes,
) -> Result<Vec<(JobId, JobState)>> {
    let ids: Vec<i64> = sqlx::query_scalar(INSERT)
        .bind(jobs.iter().map(|job| job.name.as_deref()).collect::<Vec<_>>())
        .bind(jobs.iter().map(|job| job.module_hash.as_str()).collect::<Vec<_>>())
        .bind(jobs.iter().map(|job| to_json(&job.args)).collect::<Vec<_>>())
        .bind(jobs.iter().map(|job| to_json(&job.env)).collect::<Vec<_>>())
        .bind(jobs.iter().map(|job| job.stdin.as_slice()).collect::<Vec<_>>())
        .bind(jobs.iter().map(|job| i64::from(job.priority)).collect::<Vec<_>>())
        .bind(jobs.iter().map(|job| job.timeout_ms as i64).collect::<Vec<_>>())
        .bind(jobs.iter().map(|job| job.memory_mb as i64).collect::<Vec<_>>())
        .bind(jobs.iter().map(|job| job.fuel.map(|fuel| fuel as i64)).collect::<Vec<_>>())
        .bind(jobs.iter().map(|job| i64::from(job.max_attempts)).collect::<Vec<_>>())
        .bind(jobs.iter().map(|job| job.delay.as_micros() as i64).collect::<Vec<_>>())
        .bind(jobs.iter().map(|job| job.argv0.as_deref()).collect::<Vec<_>>())
        .bind(jobs.iter().map(|job| job.job_env).collect::<Vec<_>>())
        .bind(jobs.iter().map(|job| job.module_name.as_deref()).collect::<Vec<_>>())
        .bind(jobs.iter().map(|job| job.lane.as_str()).collect::<Vec<_>>())
        .bind(jobs.iter().map(|job| job.call.as_deref()).collect::<Vec<_>>())
        .bind(jobs.iter().map(|job| job.params.as_deref()).collect::<Vec<_>>())
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows::in_insert_order(ids, jobs.len())?
        .into_iter()
        .map(|id| {
            changes.moved(id, JobState::Queued);
            (id, JobState::Queued)
        })
        .collect())
}

/// Inserts a job with an idempotency key, or finds the earlier job with that key.
async fn insert_keyed(
    tx: &mut Transaction<'_, Postgres>,
    job: &NewJob,
    changes: &mut Changes,
) -> Result<(JobId, JobState)> {
    let key = job.idempotency_key.as_deref();
    let id: Option<i64> = sqlx::query_scalar(INSERT_KEYED)
        .bind(job.name.as_deref())
        .bind(&job.module_hash)
        .bind(to_json(&job.args))
        .bind(to_json(&job.env))
        .bind(&job.stdin)
        .bind(i64::from(job.priority))
        .bind(job.timeout_ms as i64)
        .bind(job.memory_mb as i64)
        .bind(job.fuel.map(|fuel| fuel as i64))
        .bind(i64::from(job.max_attempts))
        .bind(key)
        .bind(job.delay.as_micros() as i64)
        .bind(job.argv0.as_deref())
        .bind(job.job_env)
        .bind(job.module_name.as_deref())
        .bind(&job.lane)
        .bind(job.call.as_deref())
        .bind(job.params.as_deref())
        .fetch_optional(&mut **tx)
        .await?;
    if let Some(id) = id {
        changes.moved(id, JobState::Queued);
        return Ok((id, JobState::Queued));
    }
    let (id, state): (i64, String) =
        sqlx::query_as("SELECT id, state FROM jobs WHERE idempotency_key = $1")
            .bind(key)
            .fetch_one(&mut **tx)
            .await?;
    Ok((id, state.parse().map_err(StoreError::Corrupt)?))
}

fn brief(row: &PgRow) -> Result<JobBrief> {
    Ok(JobBrief {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        module_hash: row.try_get("module_hash")?,
        module_name: row.try_get("module_name")?,
        timeout_ms: row.try_get::<i64, _>("timeout_ms")?.max(0) as u64,
        progress: rows::progress(
            row.try_get("progress_percent")?,
            row.try_get("progress_message")?,
        ),
    })
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
