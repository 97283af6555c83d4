//! The single writer: takes every change waiting in its queue, applies each inside its own
//! savepoint of one transaction, commits once, then answers the callers and publishes the
//! job transitions. One failing change rolls back only its savepoint.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use sqlx::{Connection, SqliteConnection};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::rows::{self, JobRecord, ModuleRecord, micros};
use super::{
    Cancel, Change, Claimed, Finished, JobEvent, JobId, NewJob, Recovered, Result, StoreError,
    reads,
};
use crate::job::ModuleKind;
use crate::wire::JobState;

/// Most changes committed together.
const MAX_GROUP: usize = 1024;

type Reply<T> = oneshot::Sender<Result<T>>;

/// A change for the writer, with where to send its answer.
pub enum Write {
    PutModule {
        hash: String,
        kind: ModuleKind,
        size: u64,
        name: Option<String>,
        reply: Reply<(ModuleRecord, bool)>,
    },
    DeleteModule {
        hash: String,
        reply: Reply<()>,
    },
    Submit {
        jobs: Vec<NewJob>,
        reply: Reply<Vec<(JobId, JobState)>>,
    },
    FinishAndClaim {
        finished: Vec<Finished>,
        limit: usize,
        reply: Reply<Claimed>,
    },
    Cancel {
        id: JobId,
        reply: Reply<Cancel>,
    },
    Retry {
        id: JobId,
        reply: Reply<Change>,
    },
    DeleteJob {
        id: JobId,
        reply: Reply<Change>,
    },
    Release {
        ids: Vec<JobId>,
        reply: Reply<()>,
    },
    Recover {
        reply: Reply<Recovered>,
    },
    Purge {
        cutoff: SystemTime,
        reply: Reply<u64>,
    },
    QueuePut {
        queue: String,
        item: Vec<u8>,
        capacity: u64,
        reply: Reply<bool>,
    },
    QueueTake {
        queue: String,
        reply: Reply<Option<(i64, Vec<u8>)>>,
    },
    QueueRestore {
        queue: String,
        id: i64,
        item: Vec<u8>,
        reply: Reply<()>,
    },
    Progress {
        id: JobId,
        percent: u8,
        message: String,
        reply: Reply<()>,
    },
}

/// Where committed changes are announced.
pub struct Events {
    /// Job transitions.
    pub jobs: broadcast::Sender<JobEvent>,
    /// Names of queues whose items changed.
    pub queues: broadcast::Sender<String>,
    /// Jobs per state, kept up to date here so reading them costs no query.
    pub counts: Arc<Mutex<BTreeMap<JobState, u64>>>,
    /// How many times a job has become queued since the store opened (see [`Claimed`]).
    pub queued: watch::Sender<u64>,
}

impl Events {
    /// The queued count as of the last commit.
    fn queued_so_far(&self) -> u64 {
        *self.queued.borrow()
    }

    fn publish(&self, changes: Changes) {
        let queued = changes.queued();
        if queued > 0 {
            self.queued.send_modify(|count| *count += queued);
        }
        if !changes.counts.is_empty() {
            let mut counts = self.counts.lock().expect("counts lock");
            for (from, to) in changes.counts {
                if let Some(from) = from {
                    let count = counts.entry(from).or_default();
                    *count = count.saturating_sub(1);
                }
                if let Some(to) = to {
                    *counts.entry(to).or_default() += 1;
                }
            }
        }
        for event in changes.jobs {
            let _ = self.jobs.send(event);
        }
        for queue in changes.queues {
            let _ = self.queues.send(queue);
        }
    }
}

/// What a group of changes did, announced once it commits.
#[derive(Default)]
pub struct Changes {
    /// Job transitions.
    pub jobs: Vec<JobEvent>,
    /// Queues that gained or lost items.
    pub queues: Vec<String>,
    /// Moves between states (`None`: not stored), for the per-state counts.
    pub counts: Vec<(Option<JobState>, Option<JobState>)>,
}

impl Changes {
    fn moved(&mut self, id: JobId, from: Option<JobState>, to: JobState) {
        self.jobs.push(JobEvent { id, state: to });
        self.counts.push((from, Some(to)));
    }

    fn removed(&mut self, from: JobState) {
        self.counts.push((Some(from), None));
    }

    fn absorb(&mut self, other: Changes) {
        self.jobs.extend(other.jobs);
        self.queues.extend(other.queues);
        self.counts.extend(other.counts);
    }

    /// How many of the transitions made a job queued.
    fn queued(&self) -> u64 {
        self.jobs.iter().filter(|event| event.state == JobState::Queued).count() as u64
    }
}

/// An answer held back until the group commits; told whether the commit failed.
type Pending = Box<dyn FnOnce(Option<&str>) + Send>;

fn hold<T: Send + 'static>(reply: Reply<T>, result: Result<T>) -> Pending {
    Box::new(move |failure| {
        let answer = match failure {
            None => result,
            Some(reason) => Err(StoreError::CommitFailed(reason.to_string())),
        };
        let _ = reply.send(answer);
    })
}

/// Runs until every store handle is dropped.
pub async fn run(
    mut connection: SqliteConnection,
    mut queue: mpsc::Receiver<Write>,
    events: Events,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    let mut synced = None;
    while queue.recv_many(&mut group, MAX_GROUP).await > 0 {
        let sync = group.iter().any(Write::must_reach_disk);
        if synced != Some(sync) && set_synchronous(&mut connection, sync).await {
            synced = Some(sync);
        }
        commit_group(&mut connection, group.drain(..), &events).await;
    }
}

impl Write {
    /// Whether the change may be refused for a reason of its own (an unknown module, a
    /// module still in use) while the others in its group go ahead: those get a savepoint.
    /// The rest fail only when the database does.
    fn can_be_refused(&self) -> bool {
        matches!(self, Write::Submit { .. } | Write::DeleteModule { .. })
    }

    /// Whether the caller is promised the change survives a power loss. Everything a client
    /// asked for is; the dispatcher's own bookkeeping (claims, attempt results) is kept
    /// through a process crash by the WAL, and on a power loss at worst a job runs again.
    fn must_reach_disk(&self) -> bool {
        !matches!(self, Write::FinishAndClaim { .. } | Write::Progress { .. })
    }
}

/// `FULL` syncs the log at every commit; `NORMAL` leaves it to the OS (the WAL keeps the
/// commit through a crash of this process, not of the machine).
async fn set_synchronous(connection: &mut SqliteConnection, full: bool) -> bool {
    let pragma = if full { "PRAGMA synchronous = FULL" } else { "PRAGMA synchronous = NORMAL" };
    match sqlx::query(pragma).execute(&mut *connection).await {
        Ok(_) => true,
        Err(e) => {
            tracing::error!("{pragma} failed: {e}");
            false
        }
    }
}

async fn commit_group(
    connection: &mut SqliteConnection,
    group: impl Iterator<Item = Write>,
    events: &Events,
) {
    let mut pending: Vec<Pending> = Vec::new();
    let mut announced = Changes::default();
    let mut transaction = match connection.begin().await {
        Ok(transaction) => transaction,
        Err(e) => {
            let reason = e.to_string();
            group.for_each(|write| apply_failed(write, &reason));
            return;
        }
    };
    let group: Vec<Write> = group.collect();
    if group.len() == 1 {
        // Alone in its transaction, a change needs no savepoint of its own.
        let write = group.into_iter().next().expect("one change");
        let mut changed = Changes::default();
        let queued = events.queued_so_far();
        let (answer, ok) = apply(&mut transaction, write, &mut changed, queued).await;
        let failure = if ok {
            transaction.commit().await.err().map(|e| e.to_string())
        } else {
            let _ = transaction.rollback().await;
            None
        };
        answer(failure.as_deref());
        if ok && failure.is_none() {
            events.publish(changed);
        }
        return;
    }
    let mut queued = events.queued_so_far();
    let mut group = group.into_iter();
    while let Some(write) = group.next() {
        if !write.can_be_refused() {
            // Only the database fails these, maybe halfway through: then the group goes back.
            let mut changed = Changes::default();
            let (answer, ok) = apply(&mut transaction, write, &mut changed, queued).await;
            if !ok {
                let _ = transaction.rollback().await;
                let reason = "another change in the same transaction failed";
                tracing::error!("a store change failed; its group was rolled back");
                answer(None);
                pending.into_iter().for_each(|answer| answer(Some(reason)));
                group.for_each(|write| apply_failed(write, reason));
                return;
            }
            queued += changed.queued();
            announced.absorb(changed);
            pending.push(answer);
            continue;
        }
        let mut savepoint = match transaction.begin().await {
            Ok(savepoint) => savepoint,
            Err(e) => {
                apply_failed(write, &e.to_string());
                continue;
            }
        };
        let mut changed = Changes::default();
        let (answer, ok) = apply(&mut savepoint, write, &mut changed, queued).await;
        let kept = if ok {
            savepoint.commit().await.is_ok()
        } else {
            let _ = savepoint.rollback().await;
            false
        };
        if kept {
            queued += changed.queued();
            announced.absorb(changed);
            pending.push(answer);
        } else if ok {
            answer(Some("the change could not be kept"));
        } else {
            pending.push(answer);
        }
    }
    let failure = transaction.commit().await.err().map(|e| e.to_string());
    if let Some(reason) = &failure {
        tracing::error!("store commit failed: {reason}");
    }
    for answer in pending {
        answer(failure.as_deref());
    }
    if failure.is_none() {
        events.publish(announced);
    }
}

/// Answers a change that never reached the database.
fn apply_failed(write: Write, reason: &str) {
    let fail = |reason: &str| StoreError::CommitFailed(reason.to_string());
    match write {
        Write::PutModule { reply, .. } => drop(reply.send(Err(fail(reason)))),
        Write::DeleteModule { reply, .. } => drop(reply.send(Err(fail(reason)))),
        Write::Submit { reply, .. } => drop(reply.send(Err(fail(reason)))),
        Write::FinishAndClaim { reply, .. } => drop(reply.send(Err(fail(reason)))),
        Write::Cancel { reply, .. } => drop(reply.send(Err(fail(reason)))),
        Write::Retry { reply, .. } => drop(reply.send(Err(fail(reason)))),
        Write::DeleteJob { reply, .. } => drop(reply.send(Err(fail(reason)))),
        Write::Release { reply, .. } => drop(reply.send(Err(fail(reason)))),
        Write::Recover { reply } => drop(reply.send(Err(fail(reason)))),
        Write::Purge { reply, .. } => drop(reply.send(Err(fail(reason)))),
        Write::QueuePut { reply, .. } => drop(reply.send(Err(fail(reason)))),
        Write::QueueTake { reply, .. } => drop(reply.send(Err(fail(reason)))),
        Write::QueueRestore { reply, .. } => drop(reply.send(Err(fail(reason)))),
        Write::Progress { reply, .. } => drop(reply.send(Err(fail(reason)))),
    }
}

/// Applies one change; returns its held answer and whether it succeeded. `queued` counts the
/// jobs queued by the changes before this one.
async fn apply(
    db: &mut SqliteConnection,
    write: Write,
    changed: &mut Changes,
    queued: u64,
) -> (Pending, bool) {
    macro_rules! answer {
        ($reply:expr, $result:expr) => {{
            let result = $result;
            let ok = result.is_ok();
            (hold($reply, result), ok)
        }};
    }
    match write {
        Write::PutModule { hash, kind, size, name, reply } => {
            answer!(reply, put_module(db, hash, kind, size, name).await)
        }
        Write::DeleteModule { hash, reply } => answer!(reply, delete_module(db, hash).await),
        Write::Submit { jobs, reply } => answer!(reply, submit(db, jobs, changed).await),
        Write::FinishAndClaim { finished, limit, reply } => {
            answer!(reply, finish_and_claim(db, finished, limit, changed, queued).await)
        }
        Write::Cancel { id, reply } => answer!(reply, cancel(db, id, changed).await),
        Write::Retry { id, reply } => answer!(reply, retry(db, id, changed).await),
        Write::DeleteJob { id, reply } => answer!(reply, delete_job(db, id, changed).await),
        Write::Release { ids, reply } => answer!(reply, release(db, ids, changed).await),
        Write::Recover { reply } => answer!(reply, recover(db, changed).await),
        Write::Purge { cutoff, reply } => answer!(reply, purge(db, cutoff, changed).await),
        Write::QueuePut { queue, item, capacity, reply } => {
            answer!(reply, queue_put(db, queue, item, capacity, &mut changed.queues).await)
        }
        Write::QueueTake { queue, reply } => {
            answer!(reply, queue_take(db, queue, &mut changed.queues).await)
        }
        Write::QueueRestore { queue, id, item, reply } => {
            answer!(reply, queue_restore(db, queue, id, item, &mut changed.queues).await)
        }
        Write::Progress { id, percent, message, reply } => {
            answer!(reply, progress(db, id, percent, message).await)
        }
    }
}

fn now() -> i64 {
    micros(SystemTime::now())
}

async fn put_module(
    db: &mut SqliteConnection,
    hash: String,
    kind: ModuleKind,
    size: u64,
    name: Option<String>,
) -> Result<(ModuleRecord, bool)> {
    let inserted = sqlx::query(
        "INSERT INTO modules (hash, kind, size, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (hash) DO NOTHING",
    )
    .bind(&hash)
    .bind(kind.as_str())
    .bind(size as i64)
    .bind(now())
    .execute(&mut *db)
    .await?;
    if let Some(name) = &name {
        sqlx::query(
            "INSERT INTO module_names (name, hash, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(&hash)
        .bind(now())
        .execute(&mut *db)
        .await?;
    }
    let row = sqlx::query(&format!("{} WHERE m.hash = ?", reads::MODULES))
        .bind(&hash)
        .fetch_one(&mut *db)
        .await?;
    Ok((rows::module(&row)?, inserted.rows_affected() == 1))
}

async fn delete_module(db: &mut SqliteConnection, hash: String) -> Result<()> {
    let jobs: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM jobs WHERE module_hash = ? AND state IN ('queued', 'running')",
    )
    .bind(&hash)
    .fetch_one(&mut *db)
    .await?;
    if jobs > 0 {
        return Err(StoreError::ModuleInUse { hash, jobs: jobs as u64 });
    }
    sqlx::query("DELETE FROM modules WHERE hash = ?").bind(&hash).execute(&mut *db).await?;
    Ok(())
}

async fn submit(
    db: &mut SqliteConnection,
    jobs: Vec<NewJob>,
    changed: &mut Changes,
) -> Result<Vec<(JobId, JobState)>> {
    let mut known_modules = HashSet::new();
    for job in &jobs {
        if known_modules.insert(job.module_hash.as_str()) {
            let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM modules WHERE hash = ?")
                .bind(&job.module_hash)
                .fetch_optional(&mut *db)
                .await?;
            if exists.is_none() {
                return Err(StoreError::UnknownModule(job.module_hash.clone()));
            }
        }
    }
    let mut accepted = Vec::with_capacity(jobs.len());
    let submitted_at = now();
    let mut jobs = jobs.into_iter().peekable();
    while let Some(job) = jobs.peek() {
        if job.idempotency_key.is_some() {
            let job = jobs.next().expect("peeked");
            let key = job.idempotency_key.as_deref().expect("a key");
            let earlier: Option<(JobId, String)> =
                sqlx::query_as("SELECT id, state FROM jobs WHERE idempotency_key = ?")
                    .bind(key)
                    .fetch_optional(&mut *db)
                    .await?;
            match earlier {
                Some((id, state)) => accepted.push((id, state.parse().map_err(StoreError::Corrupt)?)),
                None => accepted.extend(insert(db, &[job], submitted_at, changed).await?),
            }
            continue;
        }
        // A run of jobs without keys goes in with one statement per chunk.
        let mut run = Vec::with_capacity(INSERT_CHUNK);
        while run.len() < INSERT_CHUNK
            && let Some(job) = jobs.next_if(|job| job.idempotency_key.is_none())
        {
            run.push(job);
        }
        accepted.extend(insert(db, &run, submitted_at, changed).await?);
    }
    Ok(accepted)
}

/// Jobs inserted by one statement at most.
const INSERT_CHUNK: usize = 64;

/// Inserts jobs with one multi-row statement; returns their ids in order.
async fn insert(
    db: &mut SqliteConnection,
    jobs: &[NewJob],
    submitted_at: i64,
    changed: &mut Changes,
) -> Result<Vec<(JobId, JobState)>> {
    let mut statement = sqlx::QueryBuilder::new(
        "INSERT INTO jobs (name, module_hash, args, env, stdin, priority, timeout_ms, memory_mb,
             fuel, max_attempts, idempotency_key, state, not_before, submitted_at) ",
    );
    statement.push_values(jobs, |mut row, job| {
        row.push_bind(&job.name)
            .push_bind(&job.module_hash)
            .push_bind(serde_json::to_string(&job.args).expect("strings serialise"))
            .push_bind(serde_json::to_string(&job.env).expect("strings serialise"))
            .push_bind(&job.stdin)
            .push_bind(job.priority)
            .push_bind(job.timeout_ms as i64)
            .push_bind(job.memory_mb as i64)
            .push_bind(job.fuel.map(|fuel| fuel as i64))
            .push_bind(job.max_attempts)
            .push_bind(&job.idempotency_key)
            .push_bind("queued")
            .push_bind(submitted_at + job.delay.as_micros() as i64)
            .push_bind(submitted_at);
    });
    statement.push(" RETURNING id");
    let mut ids: Vec<JobId> = statement.build_query_scalar().fetch_all(&mut *db).await?;
    // AUTOINCREMENT ids rise in the order the rows were inserted; RETURNING's order is not
    // promised, so sort them back into it.
    ids.sort_unstable();
    if ids.len() != jobs.len() {
        return Err(StoreError::Corrupt(format!("{} rows inserted, {} returned", jobs.len(), ids.len())));
    }
    Ok(ids
        .into_iter()
        .map(|id| {
            changed.moved(id, None, JobState::Queued);
            (id, JobState::Queued)
        })
        .collect())
}

async fn claim(
    db: &mut SqliteConnection,
    limit: usize,
    changed: &mut Changes,
) -> Result<Vec<JobRecord>> {
    let claimed = sqlx::query(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = ?1,
             finished_at = NULL, worker_pid = NULL
         WHERE id IN (SELECT id FROM jobs INDEXED BY jobs_queue
                      WHERE state = 'queued' AND not_before <= ?1
                      ORDER BY priority DESC, id LIMIT ?2)
         RETURNING *",
    )
    .bind(now())
    .bind(limit as i64)
    .fetch_all(&mut *db)
    .await?;
    let mut jobs = claimed.iter().map(rows::job).collect::<Result<Vec<_>>>()?;
    jobs.sort_by_key(|job| (std::cmp::Reverse(job.priority), job.id));
    for job in &jobs {
        changed.moved(job.id, Some(JobState::Queued), JobState::Running);
    }
    Ok(jobs)
}

async fn finish(
    db: &mut SqliteConnection,
    finished: Vec<Finished>,
    changed: &mut Changes,
) -> Result<()> {
    for chunk in finished.chunks(FINISH_CHUNK) {
        finish_chunk(db, chunk, changed).await?;
    }
    Ok(())
}

/// Attempts recorded by one statement at most.
const FINISH_CHUNK: usize = 32;

/// Records attempts with one `UPDATE … FROM (VALUES …)` statement.
async fn finish_chunk(
    db: &mut SqliteConnection,
    finished: &[Finished],
    changed: &mut Changes,
) -> Result<()> {
    let next_state = |end: &Finished| match end.retry_at {
        Some(_) => JobState::Queued,
        None => end.state,
    };
    let mut statement = sqlx::QueryBuilder::new("UPDATE jobs SET state = v.column2, ");
    statement.push(
        "not_before = coalesce(v.column3, jobs.not_before), started_at = v.column4,
             finished_at = v.column5, worker_pid = v.column6, exit_code = v.column7,
             stdout = v.column8, stderr = v.column9, stdout_truncated = v.column10,
             stderr_truncated = v.column11, error = v.column12, fuel_used = v.column13,
             peak_memory_bytes = v.column14
         FROM (",
    );
    statement.push_values(finished, |mut row, end| {
        let (not_before, finished_at) = match end.retry_at {
            Some(at) => (Some(micros(at)), None),
            None => (None, Some(micros(end.finished_at))),
        };
        row.push_bind(end.id)
            .push_bind(next_state(end).as_str())
            .push_bind(not_before)
            .push_bind(micros(end.started_at))
            .push_bind(finished_at)
            .push_bind(end.worker_pid)
            .push_bind(end.exit_code)
            .push_bind(&end.stdout)
            .push_bind(&end.stderr)
            .push_bind(end.stdout_truncated)
            .push_bind(end.stderr_truncated)
            .push_bind(&end.error)
            .push_bind(end.fuel_used.map(|fuel| fuel as i64))
            .push_bind(end.peak_memory_bytes as i64);
    });
    statement.push(") AS v WHERE jobs.id = v.column1 AND jobs.state = 'running' RETURNING jobs.id");
    let updated: HashSet<JobId> =
        statement.build_query_scalar().fetch_all(&mut *db).await?.into_iter().collect();
    for end in finished.iter().filter(|end| updated.contains(&end.id)) {
        changed.moved(end.id, Some(JobState::Running), next_state(end));
    }
    Ok(())
}

/// Records ended attempts and claims for the workers they freed, in one transaction.
/// `queued` counts the jobs queued by earlier changes.
async fn finish_and_claim(
    db: &mut SqliteConnection,
    finished: Vec<Finished>,
    limit: usize,
    changed: &mut Changes,
    queued: u64,
) -> Result<Claimed> {
    finish(db, finished, changed).await?;
    let seen = queued + changed.queued();
    let jobs = if limit == 0 { Vec::new() } else { claim(db, limit, changed).await? };
    Ok(Claimed { jobs, seen })
}

async fn current_state(db: &mut SqliteConnection, id: JobId) -> Result<Option<JobState>> {
    let state: Option<String> = sqlx::query_scalar("SELECT state FROM jobs WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *db)
        .await?;
    state.map(|s| s.parse().map_err(StoreError::Corrupt)).transpose()
}

async fn cancel(db: &mut SqliteConnection, id: JobId, changed: &mut Changes) -> Result<Cancel> {
    let Some(state) = current_state(db, id).await? else { return Ok(Cancel::NotFound) };
    if state.is_terminal() {
        return Ok(Cancel::AlreadyEnded(state));
    }
    sqlx::query(
        "UPDATE jobs SET state = 'cancelled', finished_at = ?, error = 'cancelled' WHERE id = ?",
    )
    .bind(now())
    .bind(id)
    .execute(&mut *db)
    .await?;
    changed.moved(id, Some(state), JobState::Cancelled);
    Ok(Cancel::Cancelled(state))
}

async fn retry(db: &mut SqliteConnection, id: JobId, changed: &mut Changes) -> Result<Change> {
    let Some(state) = current_state(db, id).await? else { return Ok(Change::NotFound) };
    if !state.can_become(JobState::Queued) || state == JobState::Running {
        return Ok(Change::Refused(state));
    }
    sqlx::query(
        "UPDATE jobs SET state = 'queued', not_before = ?, max_attempts = max(max_attempts, attempts + 1),
             started_at = NULL, finished_at = NULL, worker_pid = NULL, exit_code = NULL, stdout = NULL,
             stderr = NULL, stdout_truncated = 0, stderr_truncated = 0, error = NULL, fuel_used = NULL,
             peak_memory_bytes = NULL
         WHERE id = ?",
    )
    .bind(now())
    .bind(id)
    .execute(&mut *db)
    .await?;
    changed.moved(id, Some(state), JobState::Queued);
    Ok(Change::Done)
}

async fn delete_job(db: &mut SqliteConnection, id: JobId, changed: &mut Changes) -> Result<Change> {
    let Some(state) = current_state(db, id).await? else { return Ok(Change::NotFound) };
    if !state.is_terminal() {
        return Ok(Change::Refused(state));
    }
    sqlx::query("DELETE FROM jobs WHERE id = ?").bind(id).execute(&mut *db).await?;
    changed.removed(state);
    Ok(Change::Done)
}

async fn release(db: &mut SqliteConnection, ids: Vec<JobId>, changed: &mut Changes) -> Result<()> {
    for id in ids {
        let released = sqlx::query(
            "UPDATE jobs SET state = 'queued', attempts = max(attempts - 1, 0), started_at = NULL,
                 worker_pid = NULL
             WHERE id = ? AND state = 'running'",
        )
        .bind(id)
        .execute(&mut *db)
        .await?;
        if released.rows_affected() == 1 {
            changed.moved(id, Some(JobState::Running), JobState::Queued);
        }
    }
    Ok(())
}

async fn recover(db: &mut SqliteConnection, changed: &mut Changes) -> Result<Recovered> {
    let at = now();
    let requeued: Vec<JobId> = sqlx::query_scalar(
        "UPDATE jobs SET state = 'queued', not_before = ?1, worker_pid = NULL,
             error = 'the host stopped during attempt ' || attempts || ' of ' || max_attempts || '; retrying'
         WHERE state = 'running' AND attempts < max_attempts RETURNING id",
    )
    .bind(at)
    .fetch_all(&mut *db)
    .await?;
    let failed: Vec<JobId> = sqlx::query_scalar(
        "UPDATE jobs SET state = 'failed', finished_at = ?1,
             error = 'the host stopped while the job was running (attempt ' || attempts || ' of '
                     || max_attempts || ')'
         WHERE state = 'running' RETURNING id",
    )
    .bind(at)
    .fetch_all(&mut *db)
    .await?;
    for &id in &requeued {
        changed.moved(id, Some(JobState::Running), JobState::Queued);
    }
    for &id in &failed {
        changed.moved(id, Some(JobState::Running), JobState::Failed);
    }
    Ok(Recovered { requeued: requeued.len() as u64, failed: failed.len() as u64 })
}

async fn purge(
    db: &mut SqliteConnection,
    cutoff: SystemTime,
    changed: &mut Changes,
) -> Result<u64> {
    let purged: Vec<String> = sqlx::query_scalar(
        "DELETE FROM jobs WHERE finished_at < ? AND state NOT IN ('queued', 'running') RETURNING state",
    )
    .bind(micros(cutoff))
    .fetch_all(&mut *db)
    .await?;
    for state in &purged {
        changed.removed(state.parse().map_err(StoreError::Corrupt)?);
    }
    Ok(purged.len() as u64)
}

async fn queue_put(
    db: &mut SqliteConnection,
    queue: String,
    item: Vec<u8>,
    capacity: u64,
    changed: &mut Vec<String>,
) -> Result<bool> {
    let len: i64 = sqlx::query_scalar("SELECT count(*) FROM queue_items WHERE queue = ?")
        .bind(&queue)
        .fetch_one(&mut *db)
        .await?;
    if len as u64 >= capacity {
        return Ok(false);
    }
    sqlx::query("INSERT INTO queue_items (queue, item, put_at) VALUES (?, ?, ?)")
        .bind(&queue)
        .bind(&item)
        .bind(now())
        .execute(&mut *db)
        .await?;
    changed.push(queue);
    Ok(true)
}

async fn queue_take(
    db: &mut SqliteConnection,
    queue: String,
    changed: &mut Vec<String>,
) -> Result<Option<(i64, Vec<u8>)>> {
    let taken: Option<(i64, Vec<u8>)> = sqlx::query_as(
        "DELETE FROM queue_items WHERE id =
             (SELECT id FROM queue_items WHERE queue = ? ORDER BY id LIMIT 1)
         RETURNING id, item",
    )
    .bind(&queue)
    .fetch_optional(&mut *db)
    .await?;
    if taken.is_some() {
        changed.push(queue);
    }
    Ok(taken)
}

/// Puts a taken item back where it was (its id keeps its place in the queue).
async fn queue_restore(
    db: &mut SqliteConnection,
    queue: String,
    id: i64,
    item: Vec<u8>,
    changed: &mut Vec<String>,
) -> Result<()> {
    sqlx::query("INSERT OR IGNORE INTO queue_items (id, queue, item, put_at) VALUES (?, ?, ?, ?)")
        .bind(id)
        .bind(&queue)
        .bind(&item)
        .bind(now())
        .execute(&mut *db)
        .await?;
    changed.push(queue);
    Ok(())
}

async fn progress(
    db: &mut SqliteConnection,
    id: JobId,
    percent: u8,
    message: String,
) -> Result<()> {
    sqlx::query(
        "UPDATE jobs SET progress_percent = ?, progress_message = ? WHERE id = ? AND state = 'running'",
    )
    .bind(percent.min(100))
    .bind(message)
    .bind(id)
    .execute(&mut *db)
    .await?;
    Ok(())
}
