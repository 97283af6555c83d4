//! The single writer: a thread of its own with a direct connection. It takes every change
//! waiting in its queue, applies each (inside its own savepoint when it may be refused) in
//! one transaction, commits once, then answers the callers and publishes the job
//! transitions. Statements run on this thread, not behind a channel, so a change costs no
//! round trip per statement.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, TransactionBehavior, params, params_from_iter};
use tokio::sync::{mpsc, oneshot};

use super::{bulk, reads, schedules};
use crate::job::ModuleKind;
use crate::store::announce::{self, Announce};
use crate::store::rows::{self, JobRecord, ModuleRecord, Positioned, micros};
use crate::store::{
    Attempt, Bulk, Cancel, Change, Claimed, Durability, Finished, Fired, JobEvent, JobFilter,
    JobId, NewJob, NewSchedule, Recovered, Result, Running, ScheduleChange, ScheduleRecord,
    StoreError, Tick,
};
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
        exports: Option<String>,
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
        started: Vec<(Attempt, SystemTime)>,
        finished: Vec<Finished>,
        lane: String,
        limit: usize,
        reply: Reply<Claimed>,
    },
    SetMaxRunning {
        hash: String,
        max_running: Option<u32>,
        reply: Reply<Option<ModuleRecord>>,
    },
    Cancel {
        id: JobId,
        reply: Reply<Cancel>,
    },
    Retry {
        id: JobId,
        reply: Reply<Change>,
    },
    CancelMatching {
        filter: JobFilter,
        reply: Reply<Bulk>,
    },
    RetryMatching {
        filter: JobFilter,
        reply: Reply<Bulk>,
    },
    DeleteJob {
        id: JobId,
        reply: Reply<Change>,
    },
    DeleteMatching {
        filter: JobFilter,
        reply: Reply<Bulk>,
    },
    Release {
        attempts: Vec<Attempt>,
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
        by: Option<Running>,
        reply: Reply<bool>,
    },
    QueueTake {
        queue: String,
        by: Option<Running>,
        reply: Reply<Option<(i64, Vec<u8>)>>,
    },
    QueueRestore {
        queue: String,
        id: i64,
        item: Vec<u8>,
        reply: Reply<()>,
    },
    QueuePurge {
        queue: String,
        reply: Reply<u64>,
    },
    Progress {
        by: Running,
        percent: u8,
        message: String,
        reply: Reply<()>,
    },
    CreateSchedule {
        schedule: NewSchedule,
        reply: Reply<Option<ScheduleRecord>>,
    },
    UpdateSchedule {
        name: String,
        change: ScheduleChange,
        reply: Reply<Option<ScheduleRecord>>,
    },
    DeleteSchedule {
        name: String,
        reply: Reply<bool>,
    },
    Fire {
        tick: Box<Tick>,
        reply: Reply<Fired>,
    },
}

/// Where committed changes are announced, and what the writer keeps up to date.
pub struct Events {
    /// The store's channels.
    pub announce: Announce,
    /// Jobs per state, kept up to date here so reading them costs no query.
    pub counts: Arc<Mutex<BTreeMap<JobState, u64>>>,
    /// This host's node name, written on the jobs it claims.
    pub node: String,
}

impl Events {
    fn publish(&self, changes: Changes) {
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
        if changes.schedules {
            self.announce.schedules_changed();
        }
        self.announce.publish(&changes.jobs, &changes.queues, changes.freed);
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
    /// Whether schedules were created, changed or deleted.
    pub schedules: bool,
    /// Running jobs of capped modules that ended (or caps raised): each may let a job
    /// waiting for its module's cap be claimed.
    pub freed: u64,
}

impl Changes {
    pub(super) fn moved(&mut self, id: JobId, from: Option<JobState>, to: JobState) {
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
        self.schedules |= other.schedules;
        self.freed += other.freed;
    }

    /// How many of the changes made a job claimable (see [`Announce::queued`]).
    fn queued(&self) -> u64 {
        announce::queued(&self.jobs) + self.freed
    }
}

/// Why a group of changes failed, told to every change in it: a full disk or a busy
/// database stays what it is (the caller answers 507 or 503), anything else is a failed
/// commit.
#[derive(Clone, Debug)]
enum Failure {
    Full(String),
    Unavailable(String),
    Other(String),
}

impl Failure {
    fn of(error: &StoreError) -> Failure {
        match error {
            StoreError::Full(reason) => Failure::Full(reason.clone()),
            StoreError::Unavailable(reason) => Failure::Unavailable(reason.clone()),
            other => Failure::Other(other.to_string()),
        }
    }

    fn of_sqlite(error: rusqlite::Error) -> Failure {
        Failure::of(&error.into())
    }

    fn error(&self) -> StoreError {
        match self {
            Failure::Full(reason) => StoreError::Full(reason.clone()),
            Failure::Unavailable(reason) => StoreError::Unavailable(reason.clone()),
            Failure::Other(reason) => StoreError::CommitFailed(reason.clone()),
        }
    }
}

/// An answer held back until the group commits; told whether the commit failed.
type Pending = Box<dyn FnOnce(Option<&Failure>) + Send>;

fn hold<T: Send + 'static>(reply: Reply<T>, result: Result<T>) -> Pending {
    Box::new(move |failure| {
        let answer = match failure {
            None => result,
            Some(failure) => Err(failure.error()),
        };
        let _ = reply.send(answer);
    })
}

/// Runs until every store handle is dropped. Blocking: give it a thread of its own. With
/// [`Durability::Log`] no group is synced: every commit is answered once its frames are in
/// the WAL file (written, so a crash of this process keeps them), and the OS writes them
/// back when it will; SQLite still syncs at each checkpoint.
pub fn run(
    mut db: Connection,
    mut queue: mpsc::Receiver<Write>,
    events: Events,
    durability: Durability,
) {
    let mut synced = None;
    while let Some(first) = queue.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP
            && let Ok(write) = queue.try_recv()
        {
            group.push(write);
        }
        let sync = durability == Durability::Disk && group.iter().any(Write::must_reach_disk);
        if synced != Some(sync) && set_synchronous(&db, sync) {
            synced = Some(sync);
        }
        commit_group(&mut db, group, &events);
    }
}

impl Write {
    /// Whether the change may be refused for a reason of its own (a module still in use)
    /// after it wrote something, while the others in its group go ahead: those get a
    /// savepoint. A submission's one refusal, an unknown module, is found before it writes
    /// (see [`refused_before_writing`]): it needs none, which spares a busy writer the
    /// savepoint's statements and the copy of every page it touches (a sixth of the writer's
    /// time under `W1`). The rest fail only when the database does.
    fn can_be_refused(&self) -> bool {
        matches!(self, Write::DeleteModule { .. })
    }

    /// Whether the caller is promised the change survives a power loss. Everything a client
    /// asked for is; the dispatcher's own bookkeeping (claims, starts, results) is kept
    /// through a process crash by the WAL, and on a power loss at worst a job runs again.
    fn must_reach_disk(&self) -> bool {
        !matches!(self, Write::FinishAndClaim { .. } | Write::Progress { .. })
    }
}

/// `FULL` syncs the log at every commit; `NORMAL` leaves it to the OS (the WAL keeps the
/// commit through a crash of this process, not of the machine).
fn set_synchronous(db: &Connection, full: bool) -> bool {
    let level = if full { "FULL" } else { "NORMAL" };
    match db.pragma_update(None, "synchronous", level) {
        Ok(()) => true,
        Err(e) => {
            tracing::error!("PRAGMA synchronous = {level} failed: {e}");
            false
        }
    }
}

fn commit_group(db: &mut Connection, group: Vec<Write>, events: &Events) {
    let mut transaction = match db.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(transaction) => transaction,
        Err(e) => {
            let failure = Failure::of_sqlite(e);
            group.into_iter().for_each(|write| apply_failed(write, &failure));
            return;
        }
    };
    let mut pending: Vec<Pending> = Vec::new();
    let mut announced = Changes::default();
    let mut queued = events.announce.queued_so_far();
    let alone = group.len() == 1;
    let mut group = group.into_iter();
    while let Some(write) = group.next() {
        let Some(write) = refused_before_writing(&transaction, write) else { continue };
        // A change alone in its transaction needs no savepoint of its own, nor does one that
        // only the database can fail (maybe halfway through): if it fails, the group goes back.
        if alone || !write.can_be_refused() {
            let mut changed = Changes::default();
            let (answer, failed) = apply(&transaction, write, &mut changed, queued, &events.node);
            if let Some(failure) = failed {
                drop(transaction);
                // The others share the fate of the change that failed the group.
                let failure = match failure {
                    Failure::Other(reason) => Failure::Other(format!(
                        "another change in the same transaction failed: {reason}"
                    )),
                    shared => shared,
                };
                answer(None);
                pending.into_iter().for_each(|answer| answer(Some(&failure)));
                group.for_each(|write| apply_failed(write, &failure));
                return;
            }
            queued += changed.queued();
            announced.absorb(changed);
            pending.push(answer);
            continue;
        }
        let savepoint = match transaction.savepoint() {
            Ok(savepoint) => savepoint,
            Err(e) => {
                apply_failed(write, &Failure::of_sqlite(e));
                continue;
            }
        };
        let mut changed = Changes::default();
        let (answer, failed) = apply(&savepoint, write, &mut changed, queued, &events.node);
        // Dropping a savepoint rolls it back.
        match failed {
            Some(_) => pending.push(answer),
            None => match savepoint.commit() {
                Ok(()) => {
                    queued += changed.queued();
                    announced.absorb(changed);
                    pending.push(answer);
                }
                Err(e) => answer(Some(&Failure::of_sqlite(e))),
            },
        }
    }
    let failure = transaction.commit().err().map(Failure::of_sqlite);
    if let Some(failure) = &failure {
        tracing::error!("store commit failed: {failure:?}");
    }
    // Announce before answering, so a caller that reads the counts (or waits for an event)
    // right after its change sees it.
    if failure.is_none() {
        events.publish(announced);
    }
    for answer in pending {
        answer(failure.as_ref());
    }
}

/// Answers a change that never reached the database.
fn apply_failed(write: Write, failure: &Failure) {
    let fail = |failure: &Failure| failure.error();
    match write {
        Write::PutModule { reply, .. } => drop(reply.send(Err(fail(failure)))),
        Write::DeleteModule { reply, .. } => drop(reply.send(Err(fail(failure)))),
        Write::Submit { reply, .. } => drop(reply.send(Err(fail(failure)))),
        Write::FinishAndClaim { reply, .. } => drop(reply.send(Err(fail(failure)))),
        Write::SetMaxRunning { reply, .. } => drop(reply.send(Err(fail(failure)))),
        Write::Cancel { reply, .. } => drop(reply.send(Err(fail(failure)))),
        Write::Retry { reply, .. } => drop(reply.send(Err(fail(failure)))),
        Write::CancelMatching { reply, .. } => drop(reply.send(Err(fail(failure)))),
        Write::RetryMatching { reply, .. } => drop(reply.send(Err(fail(failure)))),
        Write::DeleteJob { reply, .. } => drop(reply.send(Err(fail(failure)))),
        Write::DeleteMatching { reply, .. } => drop(reply.send(Err(fail(failure)))),
        Write::Release { reply, .. } => drop(reply.send(Err(fail(failure)))),
        Write::Recover { reply } => drop(reply.send(Err(fail(failure)))),
        Write::Purge { reply, .. } => drop(reply.send(Err(fail(failure)))),
        Write::QueuePut { reply, .. } => drop(reply.send(Err(fail(failure)))),
        Write::QueueTake { reply, .. } => drop(reply.send(Err(fail(failure)))),
        Write::QueueRestore { reply, .. } => drop(reply.send(Err(fail(failure)))),
        Write::QueuePurge { reply, .. } => drop(reply.send(Err(fail(failure)))),
        Write::Progress { reply, .. } => drop(reply.send(Err(fail(failure)))),
        Write::CreateSchedule { reply, .. } => drop(reply.send(Err(fail(failure)))),
        Write::UpdateSchedule { reply, .. } => drop(reply.send(Err(fail(failure)))),
        Write::DeleteSchedule { reply, .. } => drop(reply.send(Err(fail(failure)))),
        Write::Fire { reply, .. } => drop(reply.send(Err(fail(failure)))),
    }
}

/// Applies one change; returns its held answer and whether it succeeded. `queued` counts the
/// jobs queued by the changes before this one.
fn apply(
    db: &Connection,
    write: Write,
    changed: &mut Changes,
    queued: u64,
    node: &str,
) -> (Pending, Option<Failure>) {
    macro_rules! answer {
        ($reply:expr, $result:expr) => {{
            let result = $result;
            let failed = result.as_ref().err().map(Failure::of);
            (hold($reply, result), failed)
        }};
    }
    match write {
        Write::PutModule { hash, kind, size, name, exports, reply } => {
            answer!(reply, put_module(db, &hash, kind, size, name.as_deref(), exports.as_deref()))
        }
        Write::DeleteModule { hash, reply } => answer!(reply, delete_module(db, hash)),
        Write::Submit { jobs, reply } => answer!(reply, submit(db, jobs, changed)),
        Write::FinishAndClaim { started, finished, lane, limit, reply } => {
            let claim = Claim { lane: &lane, limit, node, queued };
            answer!(reply, finish_and_claim(db, &started, &finished, claim, changed))
        }
        Write::SetMaxRunning { hash, max_running, reply } => {
            answer!(reply, set_max_running(db, &hash, max_running, changed))
        }
        Write::Cancel { id, reply } => answer!(reply, cancel(db, id, changed)),
        Write::Retry { id, reply } => answer!(reply, retry(db, id, changed)),
        Write::CancelMatching { filter, reply } => {
            answer!(reply, bulk::cancel_matching(db, &filter, now(), changed))
        }
        Write::RetryMatching { filter, reply } => {
            answer!(reply, bulk::retry_matching(db, &filter, now(), changed))
        }
        Write::DeleteJob { id, reply } => answer!(reply, delete_job(db, id, changed)),
        Write::DeleteMatching { filter, reply } => {
            answer!(reply, bulk::delete_matching(db, &filter, changed))
        }
        Write::Release { attempts, reply } => answer!(reply, release(db, &attempts, changed)),
        Write::Recover { reply } => answer!(reply, recover(db, changed)),
        Write::Purge { cutoff, reply } => answer!(reply, purge(db, cutoff, changed)),
        Write::QueuePut { queue, item, capacity, by, reply } => {
            answer!(reply, queue_put(db, queue, &item, capacity, by, &mut changed.queues))
        }
        Write::QueueTake { queue, by, reply } => {
            answer!(reply, queue_take(db, queue, by, &mut changed.queues))
        }
        Write::QueueRestore { queue, id, item, reply } => {
            answer!(reply, queue_restore(db, queue, id, &item, &mut changed.queues))
        }
        Write::QueuePurge { queue, reply } => {
            answer!(reply, super::queue_admin::purge(db, queue, &mut changed.queues))
        }
        Write::Progress { by, percent, message, reply } => {
            answer!(reply, progress(db, by, percent, &message))
        }
        Write::CreateSchedule { schedule, reply } => {
            answer!(reply, schedules::create(db, &schedule, changed))
        }
        Write::UpdateSchedule { name, change, reply } => {
            answer!(reply, schedules::update(db, &name, &change, changed))
        }
        Write::DeleteSchedule { name, reply } => {
            answer!(reply, schedules::delete(db, &name, changed))
        }
        Write::Fire { tick, reply } => answer!(reply, schedules::fire(db, &tick, changed)),
    }
}

pub(super) fn now() -> i64 {
    micros(SystemTime::now())
}

/// `(?, ?, …), (?, ?, …), …`: `rows` rows of `columns` placeholders.
fn placeholders(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
}

/// A parameter of a multi-row statement, borrowed from the change where it can be.
type Param<'a> = ToSqlOutput<'a>;

fn int(value: i64) -> Param<'static> {
    ToSqlOutput::Borrowed(ValueRef::Integer(value))
}

fn opt_int(value: Option<i64>) -> Param<'static> {
    ToSqlOutput::Borrowed(value.map_or(ValueRef::Null, ValueRef::Integer))
}

fn text(value: &str) -> Param<'_> {
    ToSqlOutput::Borrowed(ValueRef::Text(value.as_bytes()))
}

fn opt_text(value: Option<&str>) -> Param<'_> {
    value.map_or(ToSqlOutput::Borrowed(ValueRef::Null), text)
}

fn blob(value: &[u8]) -> Param<'_> {
    ToSqlOutput::Borrowed(ValueRef::Blob(value))
}

fn put_module(
    db: &Connection,
    hash: &str,
    kind: ModuleKind,
    size: u64,
    name: Option<&str>,
    exports: Option<&str>,
) -> Result<(ModuleRecord, bool)> {
    let inserted = db
        .prepare_cached(
            "INSERT INTO modules (hash, kind, size, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (hash) DO NOTHING",
        )?
        .execute(params![hash, kind.as_str(), size as i64, now()])?;
    if let Some(exports) = exports {
        db.prepare_cached("UPDATE modules SET exports = ? WHERE hash = ?")?
            .execute(params![exports, hash])?;
    }
    if let Some(name) = name {
        db.prepare_cached(
            "INSERT INTO module_names (name, hash, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at",
        )?
        .execute(params![name, hash, now()])?;
    }
    let mut statement = db.prepare_cached(&format!("{} WHERE m.hash = ?", reads::MODULES))?;
    let columns = rows::positions(&statement);
    let record = statement
        .query_row([hash], |row| Ok(rows::module(&Positioned { row, columns: &columns })))??;
    Ok((record, inserted == 1))
}

fn delete_module(db: &Connection, hash: String) -> Result<()> {
    let jobs: i64 = db
        .prepare_cached(
            "SELECT count(*) FROM jobs WHERE module_hash = ? AND state IN ('queued', 'running')",
        )?
        .query_row([&hash], |row| row.get(0))?;
    if jobs > 0 {
        return Err(StoreError::ModuleInUse { hash, jobs: jobs as u64 });
    }
    db.prepare_cached("DELETE FROM modules WHERE hash = ?")?.execute([&hash])?;
    Ok(())
}

/// Answers a change that is refused before it writes anything (a submission naming an
/// unknown module) and gives back the others.
fn refused_before_writing(db: &Connection, write: Write) -> Option<Write> {
    let Write::Submit { jobs, reply } = write else { return Some(write) };
    match unknown_module(db, &jobs) {
        Ok(()) => Some(Write::Submit { jobs, reply }),
        Err(refused) => {
            let _ = reply.send(Err(refused));
            None
        }
    }
}

/// `UnknownModule` if a job names a module the store does not have.
fn unknown_module(db: &Connection, jobs: &[NewJob]) -> Result<()> {
    let mut known_modules = HashSet::new();
    for job in jobs {
        if known_modules.insert(job.module_hash.as_str()) {
            let exists = db
                .prepare_cached("SELECT 1 FROM modules WHERE hash = ?")?
                .exists([&job.module_hash])?;
            if !exists {
                return Err(StoreError::UnknownModule(job.module_hash.clone()));
            }
        }
    }
    Ok(())
}

/// Inserts the jobs of a submission whose modules were found (`unknown_module`).
fn submit(
    db: &Connection,
    jobs: Vec<NewJob>,
    changed: &mut Changes,
) -> Result<Vec<(JobId, JobState)>> {
    let mut accepted = Vec::with_capacity(jobs.len());
    let submitted_at = now();
    let mut rest = jobs.as_slice();
    while let Some(job) = rest.first() {
        if let Some(key) = &job.idempotency_key {
            let earlier = db
                .prepare_cached("SELECT id, state FROM jobs WHERE idempotency_key = ?")?
                .query_map([key], |row| Ok((row.get::<_, JobId>(0)?, row.get::<_, String>(1)?)))?
                .next()
                .transpose()?;
            match earlier {
                Some((id, state)) => {
                    accepted.push((id, state.parse().map_err(StoreError::Corrupt)?));
                }
                None => accepted.extend(insert(db, &rest[..1], submitted_at, changed)?),
            }
            rest = &rest[1..];
            continue;
        }
        // A run of jobs without keys goes in with one statement per chunk.
        let run =
            rest.iter().take(INSERT_CHUNK).take_while(|job| job.idempotency_key.is_none()).count();
        accepted.extend(insert(db, &rest[..run], submitted_at, changed)?);
        rest = &rest[run..];
    }
    Ok(accepted)
}

/// Jobs inserted by one statement at most.
const INSERT_CHUNK: usize = 64;

/// Inserts jobs with one multi-row statement; returns their ids in order.
pub(super) fn insert(
    db: &Connection,
    jobs: &[NewJob],
    submitted_at: i64,
    changed: &mut Changes,
) -> Result<Vec<(JobId, JobState)>> {
    const COLUMNS: usize = 20;
    let encoded: Vec<(String, String)> = jobs
        .iter()
        .map(|job| {
            let args = serde_json::to_string(&job.args).expect("strings serialise");
            (args, serde_json::to_string(&job.env).expect("strings serialise"))
        })
        .collect();
    let mut values = Vec::with_capacity(jobs.len() * COLUMNS);
    for (job, (args, env)) in jobs.iter().zip(&encoded) {
        values.extend([
            opt_text(job.name.as_deref()),
            text(&job.module_hash),
            text(args),
            text(env),
            blob(&job.stdin),
            int(job.priority.into()),
            int(job.timeout_ms as i64),
            int(job.memory_mb as i64),
            opt_int(job.fuel.map(|fuel| fuel as i64)),
            int(job.max_attempts.into()),
            opt_text(job.idempotency_key.as_deref()),
            text("queued"),
            int(submitted_at + job.delay.as_micros() as i64),
            int(submitted_at),
            opt_text(job.argv0.as_deref()),
            int(job.job_env.into()),
            opt_text(job.module_name.as_deref()),
            text(&job.lane),
            opt_text(job.call.as_deref()),
            opt_text(job.params.as_deref()),
        ]);
    }
    let sql = format!(
        "INSERT INTO jobs (name, module_hash, args, env, stdin, priority, timeout_ms, memory_mb,
             fuel, max_attempts, idempotency_key, state, not_before, submitted_at, argv0,
             job_env, module_name, lane, call_function, call_params)
         VALUES {} RETURNING id",
        placeholders(jobs.len(), COLUMNS)
    );
    let ids = db
        .prepare_cached(&sql)?
        .query_map(params_from_iter(values), |row| row.get::<_, JobId>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows::in_insert_order(ids, jobs.len())?
        .into_iter()
        .map(|id| {
            changed.moved(id, None, JobState::Queued);
            (id, JobState::Queued)
        })
        .collect())
}

/// Moves the claimed jobs to running for `node`; `{}` is the statement choosing them.
const CLAIM: &str = "UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = NULL,
        finished_at = NULL, worker_pid = NULL, node = ?1, node_id = 0
    WHERE state = 'queued' AND id IN ({})
    RETURNING *";

/// The first `?4` due jobs of lane `?2` (at time `?3`), highest priority then oldest first:
/// the claim of a store with no capped module.
const WALK: &str = "SELECT id FROM jobs INDEXED BY jobs_queue
    WHERE lane = ?2 AND state = 'queued' AND not_before <= ?3
    ORDER BY priority DESC, id LIMIT ?4";

/// Capped modules, each with how many more of its jobs may run now.
const ROOM: &str =
    "SELECT m.hash, m.max_running - (SELECT count(*) FROM jobs INDEXED BY jobs_by_state
        WHERE state = 'running' AND module_hash = m.hash)
    FROM modules m INDEXED BY modules_capped WHERE m.max_running IS NOT NULL";

/// Claims up to `limit` due jobs of `lane`, never more of a capped module than its room.
fn claim(
    db: &Connection,
    lane: &str,
    limit: usize,
    node: &str,
    changed: &mut Changes,
) -> Result<Vec<JobRecord>> {
    let at = now();
    let room = db
        .prepare_cached(ROOM)?
        .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut jobs = if room.is_empty() {
        let mut statement = db.prepare_cached(&CLAIM.replace("{}", WALK))?;
        let columns = rows::positions(&statement);
        statement
            .query_map(params![node, lane, at, limit as i64], |row| {
                Ok(rows::job(&Positioned { row, columns: &columns }))
            })?
            .map(|row| row?)
            .collect::<Result<Vec<_>>>()?
    } else {
        let ids = capped_choice(db, lane, at, limit, &room)?;
        let ids = serde_json::to_string(&ids).expect("integers serialise");
        let mut statement =
            db.prepare_cached(&CLAIM.replace("{}", "SELECT value FROM json_each(?2)"))?;
        let columns = rows::positions(&statement);
        statement
            .query_map(params![node, ids], |row| {
                Ok(rows::job(&Positioned { row, columns: &columns }))
            })?
            .map(|row| row?)
            .collect::<Result<Vec<_>>>()?
    };
    jobs.sort_by_key(|job| (std::cmp::Reverse(job.priority), job.id));
    for job in &jobs {
        changed.moved(job.id, Some(JobState::Queued), JobState::Running);
    }
    Ok(jobs)
}

/// The jobs a claim takes while some modules are capped: the first `limit` of the lane's
/// due queue once every capped module's jobs past its room are left out. That is the first
/// `limit` of the uncapped modules' jobs and of each capped module's first `room` jobs.
fn capped_choice(
    db: &Connection,
    lane: &str,
    at: i64,
    limit: usize,
    room: &[(String, i64)],
) -> Result<Vec<JobId>> {
    let capped: Vec<&str> = room.iter().map(|(hash, _)| hash.as_str()).collect();
    let capped = serde_json::to_string(&capped).expect("strings serialise");
    let mut chosen: Vec<(std::cmp::Reverse<i64>, JobId)> = db
        .prepare_cached(
            "SELECT priority, id FROM jobs INDEXED BY jobs_queue
             WHERE lane = ?1 AND state = 'queued' AND not_before <= ?2
                 AND module_hash NOT IN (SELECT value FROM json_each(?3))
             ORDER BY priority DESC, id LIMIT ?4",
        )?
        .query_map(params![lane, at, capped, limit as i64], |row| {
            Ok((std::cmp::Reverse(row.get(0)?), row.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (hash, room) in room.iter().filter(|(_, room)| *room > 0) {
        let first = db
            .prepare_cached(
                "SELECT priority, id FROM jobs INDEXED BY jobs_queue
                 WHERE lane = ?1 AND state = 'queued' AND not_before <= ?2 AND module_hash = ?3
                 ORDER BY priority DESC, id LIMIT ?4",
            )?
            .query_map(params![lane, at, hash, room.min(&(limit as i64))], |row| {
                Ok((std::cmp::Reverse(row.get(0)?), row.get(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        chosen.extend(first);
    }
    chosen.sort_unstable();
    chosen.truncate(limit);
    Ok(chosen.into_iter().map(|(_, id)| id).collect())
}

/// Sets or clears a module's cap. A cap raised or cleared may let waiting jobs run: the
/// dispatchers are woken (`freed`).
fn set_max_running(
    db: &Connection,
    hash: &str,
    max_running: Option<u32>,
    changed: &mut Changes,
) -> Result<Option<ModuleRecord>> {
    let updated = db
        .prepare_cached("UPDATE modules SET max_running = ? WHERE hash = ?")?
        .execute(params![max_running, hash])?;
    if updated == 0 {
        return Ok(None);
    }
    changed.freed += 1;
    let mut statement = db.prepare_cached(&format!("{} WHERE m.hash = ?", reads::MODULES))?;
    let columns = rows::positions(&statement);
    let record = statement
        .query_row([hash], |row| Ok(rows::module(&Positioned { row, columns: &columns })))??;
    Ok(Some(record))
}

/// Whether a module has a cap on its running jobs (then a job of it that ends frees a slot).
const CAPPED: &str =
    "(SELECT max_running IS NOT NULL FROM modules WHERE hash = jobs.module_hash) AS capped";

/// Attempts recorded by one statement at most.
const FINISH_CHUNK: usize = 32;

/// Records ended attempts: each job ends, or goes back to the queue for a retry; each
/// attempt that was still current joins its job's history.
fn finish(db: &Connection, finished: &[Finished], node: &str, changed: &mut Changes) -> Result<()> {
    const COLUMNS: usize = 16;
    let next_state = |end: &Finished| match end.retry_at {
        Some(_) => JobState::Queued,
        None => end.state,
    };
    for chunk in finished.chunks(FINISH_CHUNK) {
        let mut values = Vec::with_capacity(chunk.len() * COLUMNS);
        for end in chunk {
            let (not_before, finished_at) = match end.retry_at {
                Some(at) => (Some(micros(at)), None),
                None => (None, Some(micros(end.finished_at))),
            };
            values.extend([
                int(end.id()),
                text(next_state(end).as_str()),
                opt_int(not_before),
                int(micros(end.started_at)),
                opt_int(finished_at),
                opt_int(end.worker_pid.map(i64::from)),
                opt_int(end.exit_code.map(i64::from)),
                blob(&end.stdout),
                blob(&end.stderr),
                int(end.stdout_truncated.into()),
                int(end.stderr_truncated.into()),
                opt_text(end.error.as_deref()),
                opt_int(end.fuel_used.map(|fuel| fuel as i64)),
                int(end.peak_memory_bytes as i64),
                int(end.attempt.number.into()),
                opt_text(end.result.as_deref()),
            ]);
        }
        let sql = format!(
            "UPDATE jobs SET state = v.column2, not_before = coalesce(v.column3, jobs.not_before),
                 started_at = v.column4, finished_at = v.column5, worker_pid = v.column6,
                 exit_code = v.column7, stdout = v.column8, stderr = v.column9,
                 stdout_truncated = v.column10, stderr_truncated = v.column11, error = v.column12,
                 fuel_used = v.column13, peak_memory_bytes = v.column14,
                 call_result = v.column16
             FROM (VALUES {}) AS v
             WHERE jobs.id = v.column1 AND jobs.state = 'running' AND jobs.attempts = v.column15
             RETURNING jobs.id, {CAPPED}",
            placeholders(chunk.len(), COLUMNS)
        );
        let updated = db
            .prepare_cached(&sql)?
            .query_map(params_from_iter(values), |row| {
                Ok((row.get::<_, JobId>(0)?, row.get::<_, Option<bool>>(1)?.unwrap_or(false)))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        changed.freed += updated.iter().filter(|(_, capped)| *capped).count() as u64;
        let updated: HashSet<JobId> = updated.into_iter().map(|(id, _)| id).collect();
        let current: Vec<&Finished> =
            chunk.iter().filter(|end| updated.contains(&end.id())).collect();
        for end in &current {
            changed.moved(end.id(), Some(JobState::Running), next_state(end));
        }
        keep_attempts(db, &current, node)?;
    }
    Ok(())
}

/// Adds ended attempts to their jobs' histories, with one statement.
fn keep_attempts(db: &Connection, ended: &[&Finished], node: &str) -> Result<()> {
    const COLUMNS: usize = 9;
    if ended.is_empty() {
        return Ok(());
    }
    let mut values = Vec::with_capacity(ended.len() * COLUMNS);
    for end in ended {
        values.extend([
            int(end.id()),
            int(end.attempt.number.into()),
            text(node),
            opt_int(end.worker_pid.map(i64::from)),
            int(micros(end.started_at)),
            int(micros(end.finished_at)),
            text(end.state.as_str()),
            opt_int(end.exit_code.map(i64::from)),
            opt_text(end.error.as_deref()),
        ]);
    }
    // An attempt is recorded once (the fencing above); OR IGNORE only keeps a history row
    // from ever failing the results it travels with.
    let sql = format!(
        "INSERT OR IGNORE INTO attempts (job_id, attempt, node, worker_pid, started_at,
             finished_at, state, exit_code, error)
         VALUES {}",
        placeholders(ended.len(), COLUMNS)
    );
    db.prepare_cached(&sql)?.execute(params_from_iter(values))?;
    Ok(())
}

/// Records when claimed jobs started, up to this many per statement.
const START_CHUNK: usize = 256;

/// Records when claimed jobs reached a worker.
fn start(db: &Connection, started: &[(Attempt, SystemTime)]) -> Result<()> {
    for chunk in started.chunks(START_CHUNK) {
        let values: Vec<Param<'_>> = chunk
            .iter()
            .flat_map(|&(attempt, at)| {
                [int(attempt.id), int(micros(at)), int(attempt.number.into())]
            })
            .collect();
        let sql = format!(
            "UPDATE jobs SET started_at = v.column2 FROM (VALUES {}) AS v
             WHERE jobs.id = v.column1 AND jobs.state = 'running' AND jobs.started_at IS NULL
                 AND jobs.attempts = v.column3",
            placeholders(chunk.len(), 3)
        );
        db.prepare_cached(&sql)?.execute(params_from_iter(values))?;
    }
    Ok(())
}

/// What to claim: how many jobs of which lane, for which node, and how many jobs earlier
/// changes queued.
struct Claim<'a> {
    lane: &'a str,
    limit: usize,
    node: &'a str,
    queued: u64,
}

/// Records starts and ended attempts and claims for the workers they freed, in one
/// transaction.
fn finish_and_claim(
    db: &Connection,
    started: &[(Attempt, SystemTime)],
    finished: &[Finished],
    wanted: Claim<'_>,
    changed: &mut Changes,
) -> Result<Claimed> {
    start(db, started)?;
    finish(db, finished, wanted.node, changed)?;
    let seen = wanted.queued + changed.queued();
    let jobs = match wanted.limit {
        0 => Vec::new(),
        limit => claim(db, wanted.lane, limit, wanted.node, changed)?,
    };
    Ok(Claimed { jobs, seen })
}

fn current_state(db: &Connection, id: JobId) -> Result<Option<JobState>> {
    let state = db
        .prepare_cached("SELECT state FROM jobs WHERE id = ?")?
        .query_map([id], |row| row.get::<_, String>(0))?
        .next()
        .transpose()?;
    state.map(|s| s.parse().map_err(StoreError::Corrupt)).transpose()
}

fn cancel(db: &Connection, id: JobId, changed: &mut Changes) -> Result<Cancel> {
    let Some(state) = current_state(db, id)? else { return Ok(Cancel::NotFound) };
    if state.is_terminal() {
        return Ok(Cancel::AlreadyEnded(state));
    }
    let capped: Option<bool> = db
        .prepare_cached(&format!("{} WHERE id = ?2 RETURNING {CAPPED}", bulk::CANCEL))?
        .query_row(params![now(), id], |row| row.get(0))?;
    if state == JobState::Running && capped == Some(true) {
        changed.freed += 1;
    }
    changed.moved(id, Some(state), JobState::Cancelled);
    Ok(Cancel::Cancelled(state))
}

fn retry(db: &Connection, id: JobId, changed: &mut Changes) -> Result<Change> {
    let Some(state) = current_state(db, id)? else { return Ok(Change::NotFound) };
    if !state.can_become(JobState::Queued) || state == JobState::Running {
        return Ok(Change::Refused(state));
    }
    db.prepare_cached(&format!("{} WHERE id = ?2", bulk::RETRY))?.execute(params![now(), id])?;
    changed.moved(id, Some(state), JobState::Queued);
    Ok(Change::Done)
}

fn delete_job(db: &Connection, id: JobId, changed: &mut Changes) -> Result<Change> {
    let Some(state) = current_state(db, id)? else { return Ok(Change::NotFound) };
    if !state.is_terminal() {
        return Ok(Change::Refused(state));
    }
    db.prepare_cached("DELETE FROM jobs WHERE id = ?")?.execute([id])?;
    db.prepare_cached("DELETE FROM attempts WHERE job_id = ?")?.execute([id])?;
    changed.removed(state);
    Ok(Change::Done)
}

fn release(db: &Connection, attempts: &[Attempt], changed: &mut Changes) -> Result<()> {
    // One statement for the whole batch (a drain or a stale claim-ahead gives back up to
    // 64 jobs per worker): the attempts go in as one JSON array of [id, attempt] pairs.
    let pairs: Vec<(JobId, u32)> = attempts.iter().map(|a| (a.id, a.number)).collect();
    let pairs = serde_json::to_string(&pairs).expect("attempts serialise");
    let released = db
        .prepare_cached(
            "UPDATE jobs SET state = 'queued', attempts = max(attempts - 1, 0), started_at = NULL,
                 worker_pid = NULL
             FROM (SELECT value ->> 0 AS id, value ->> 1 AS attempt FROM json_each(?)) AS r
             WHERE jobs.id = r.id AND jobs.attempts = r.attempt AND jobs.state = 'running'
             RETURNING jobs.id",
        )?
        .query_map([pairs], |row| row.get::<_, JobId>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for id in released {
        changed.moved(id, Some(JobState::Running), JobState::Queued);
    }
    Ok(())
}

fn recover(db: &Connection, changed: &mut Changes) -> Result<Recovered> {
    let at = now();
    let released = db
        .prepare_cached(
            "UPDATE jobs SET state = 'queued', attempts = max(attempts - 1, 0), worker_pid = NULL
             WHERE state = 'running' AND started_at IS NULL RETURNING id",
        )?
        .query_map([], |row| row.get::<_, JobId>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let requeued = db
        .prepare_cached(
            "UPDATE jobs SET state = 'queued', not_before = ?1, worker_pid = NULL,
                 error = 'the host stopped during attempt ' || attempts || ' of ' || max_attempts || '; retrying'
             WHERE state = 'running' AND attempts < max_attempts RETURNING id",
        )?
        .query_map([at], |row| row.get::<_, JobId>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let failed = db
        .prepare_cached(
            "UPDATE jobs SET state = 'failed', finished_at = ?1,
                 error = 'the host stopped while the job was running (attempt ' || attempts || ' of '
                         || max_attempts || ')'
             WHERE state = 'running' RETURNING id",
        )?
        .query_map([at], |row| row.get::<_, JobId>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for &id in released.iter().chain(&requeued) {
        changed.moved(id, Some(JobState::Running), JobState::Queued);
    }
    for &id in &failed {
        changed.moved(id, Some(JobState::Running), JobState::Failed);
    }
    Ok(Recovered {
        released: released.len() as u64,
        requeued: requeued.len() as u64,
        failed: failed.len() as u64,
    })
}

fn purge(db: &Connection, cutoff: SystemTime, changed: &mut Changes) -> Result<u64> {
    db.prepare_cached(
        "DELETE FROM attempts WHERE job_id IN
             (SELECT id FROM jobs WHERE finished_at < ? AND state NOT IN ('queued', 'running'))",
    )?
    .execute([micros(cutoff)])?;
    let purged = db
        .prepare_cached(
            "DELETE FROM jobs WHERE finished_at < ? AND state NOT IN ('queued', 'running')
             RETURNING state",
        )?
        .query_map([micros(cutoff)], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for state in &purged {
        changed.removed(state.parse().map_err(StoreError::Corrupt)?);
    }
    Ok(purged.len() as u64)
}

/// Whether the attempt is still the job's current one.
fn current(db: &Connection, by: Running) -> Result<bool> {
    Ok(db
        .prepare_cached("SELECT 1 FROM jobs WHERE id = ? AND state = 'running' AND attempts = ?")?
        .exists(params![by.id, by.attempt])?)
}

fn queue_put(
    db: &Connection,
    queue: String,
    item: &[u8],
    capacity: u64,
    by: Option<Running>,
    changed: &mut Vec<String>,
) -> Result<bool> {
    if let Some(by) = by
        && !current(db, by)?
    {
        return Err(StoreError::NotRunning(by.id));
    }
    let len: i64 = db
        .prepare_cached("SELECT count(*) FROM queue_items WHERE queue = ?")?
        .query_row([&queue], |row| row.get(0))?;
    if len as u64 >= capacity {
        return Ok(false);
    }
    db.prepare_cached("INSERT INTO queue_items (queue, item, put_at) VALUES (?, ?, ?)")?
        .execute(params![queue, item, now()])?;
    changed.push(queue);
    Ok(true)
}

fn queue_take(
    db: &Connection,
    queue: String,
    by: Option<Running>,
    changed: &mut Vec<String>,
) -> Result<Option<(i64, Vec<u8>)>> {
    if let Some(by) = by
        && !current(db, by)?
    {
        return Ok(None);
    }
    let taken = db
        .prepare_cached(
            "DELETE FROM queue_items WHERE id =
                 (SELECT id FROM queue_items WHERE queue = ? ORDER BY id LIMIT 1)
             RETURNING id, item",
        )?
        .query_map([&queue], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?)))?
        .next()
        .transpose()?;
    if taken.is_some() {
        changed.push(queue);
    }
    Ok(taken)
}

/// Puts a taken item back where it was (its id keeps its place in the queue).
fn queue_restore(
    db: &Connection,
    queue: String,
    id: i64,
    item: &[u8],
    changed: &mut Vec<String>,
) -> Result<()> {
    db.prepare_cached(
        "INSERT OR IGNORE INTO queue_items (id, queue, item, put_at) VALUES (?, ?, ?, ?)",
    )?
    .execute(params![id, queue, item, now()])?;
    changed.push(queue);
    Ok(())
}

fn progress(db: &Connection, by: Running, percent: u8, message: &str) -> Result<()> {
    db.prepare_cached(
        "UPDATE jobs SET progress_percent = ?, progress_message = ?
         WHERE id = ? AND state = 'running' AND attempts = ?",
    )?
    .execute(params![percent.min(100), message, by.id, by.attempt])?;
    Ok(())
}
