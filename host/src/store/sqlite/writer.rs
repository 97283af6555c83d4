//! The single writer: a thread of its own with a direct connection. It takes every operation
//! waiting in its queue, applies each (inside its own savepoint when it may be refused after
//! it wrote) in one transaction, commits once, then answers the callers and publishes what
//! changed. Statements run on this thread, not behind a channel, so a change costs no round
//! trip per statement.
//!
//! The writer runs one kind of thing, a [`Write`]: a closure over the connection and the
//! group's [`Changes`], with the caller's answer and the [`Kind`] that says how the group
//! must treat it. What an operation does lives with its statements (`jobs.rs`, `claims.rs`,
//! `modules.rs`, `queues.rs`, `schedules.rs`, `bulk.rs`); this file knows none of them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use crate::store::announce::Announce;
use crate::store::changes::Changes;
use crate::store::{Durability, JobState, Result, StoreError};

/// Most changes committed together.
const MAX_GROUP: usize = 1024;

/// How the writer treats an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Something a client was promised (a submission, a cancel, an upload…): its group
    /// commits synced, so the answer means "survives a power loss" (unless `--sync off`).
    Promised,
    /// The dispatcher's own bookkeeping (claims, starts, results, progress): the WAL keeps it
    /// through a crash of the process, and on a power loss at worst a job runs again, so it
    /// does not make its group sync.
    Bookkeeping,
    /// A promised change that may be refused for a reason of its own after it wrote (a
    /// module still in use): it gets a savepoint, so its refusal leaves the rest of the group.
    Refusable,
}

/// What the group tells each operation.
pub struct Group<'a> {
    /// This host's node name, written on the jobs it claims.
    pub node: &'a str,
    /// How many times a job had become claimable before this operation (the commits so far
    /// and the earlier operations of this group): a claim returns it as `Claimed::seen`.
    pub queued: u64,
}

/// One operation for the writer: what it does, where its answer goes, how it is treated.
///
/// The closure runs inside the group's transaction and notes what it changed in `Changes`.
/// A refusal of its own (`UnknownModule`, `NotRunning`, `ModuleInUse`: see
/// [`StoreError::is_refusal`]) must come before it writes, unless it is [`Kind::Refusable`];
/// any other error means the database failed, and the whole group goes back.
pub struct Write {
    operation: Box<dyn Operation>,
    kind: Kind,
}

impl Write {
    /// An operation answering `reply` with what `apply` returns, once its group committed.
    pub fn new<T, F>(kind: Kind, apply: F, reply: oneshot::Sender<Result<T>>) -> Write
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut Changes, &Group<'_>) -> Result<T> + Send + 'static,
    {
        Write { operation: Box::new(Op { apply, reply }), kind }
    }
}

/// A [`Write`]'s closure and answer, behind one object-safe face.
trait Operation: Send {
    /// Runs the closure; its answer is held until the group's fate is known.
    fn apply(self: Box<Self>, db: &Connection, changes: &mut Changes, group: &Group<'_>)
    -> Applied;

    /// Answers that the operation never reached the database.
    fn fail(self: Box<Self>, failure: &Failure);
}

struct Op<T, F> {
    apply: F,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Operation for Op<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection, &mut Changes, &Group<'_>) -> Result<T> + Send + 'static,
{
    fn apply(
        self: Box<Self>,
        db: &Connection,
        changes: &mut Changes,
        group: &Group<'_>,
    ) -> Applied {
        let Op { apply, reply } = *self;
        let result = apply(db, changes, group);
        let verdict = match &result {
            Ok(_) => Verdict::Done,
            Err(error) if error.is_refusal() => Verdict::Refused,
            Err(error) => Verdict::Failed(Failure::of(error)),
        };
        let answer: Pending = Box::new(move |failure| {
            let answer = match (failure, result) {
                // A refusal changed nothing: it is the answer whatever became of the group.
                (_, Err(refused)) if refused.is_refusal() => Err(refused),
                (None, result) => result,
                (Some(failure), _) => Err(failure.error()),
            };
            let _ = reply.send(answer);
        });
        Applied { answer, verdict }
    }

    fn fail(self: Box<Self>, failure: &Failure) {
        let _ = self.reply.send(Err(failure.error()));
    }
}

/// An operation that ran, its answer held.
struct Applied {
    answer: Pending,
    verdict: Verdict,
}

enum Verdict {
    /// It did what it was asked.
    Done,
    /// It refused, for a reason of its own.
    Refused,
    /// The database failed under it.
    Failed(Failure),
}

/// An answer held back until the group commits; told whether the commit failed.
type Pending = Box<dyn FnOnce(Option<&Failure>) + Send>;

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

    /// The failure as told to the others of the group that one operation failed.
    fn shared(self) -> Failure {
        match self {
            Failure::Other(reason) => {
                Failure::Other(format!("another change in the same transaction failed: {reason}"))
            }
            shared => shared,
        }
    }
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
    /// Applies the group's moves to the counts, then announces it.
    fn publish(&self, changes: &Changes) {
        if !changes.counts.is_empty() {
            let mut counts = self.counts.lock().expect("counts lock");
            for &(from, to) in &changes.counts {
                if let Some(from) = from {
                    let count = counts.entry(from).or_default();
                    *count = count.saturating_sub(1);
                }
                if let Some(to) = to {
                    *counts.entry(to).or_default() += 1;
                }
            }
        }
        self.announce.committed(changes);
    }
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
        let sync = durability == Durability::Disk
            && group.iter().any(|write| write.kind != Kind::Bookkeeping);
        if synced != Some(sync) && set_synchronous(&db, sync) {
            synced = Some(sync);
        }
        commit_group(&mut db, group, &events);
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

/// What a group did so far: answers held, changes to announce, jobs queued.
struct Progress {
    pending: Vec<Pending>,
    announced: Changes,
    queued: u64,
}

impl Progress {
    fn kept(&mut self, answer: Pending, changed: Changes) {
        self.queued += changed.queued();
        self.announced.absorb(changed);
        self.pending.push(answer);
    }
}

fn commit_group(db: &mut Connection, group: Vec<Write>, events: &Events) {
    let mut transaction = match db.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(transaction) => transaction,
        Err(e) => {
            let failure = Failure::of_sqlite(e);
            group.into_iter().for_each(|write| write.operation.fail(&failure));
            return;
        }
    };
    let queued = events.announce.queued_so_far();
    let mut done = Progress { pending: Vec::new(), announced: Changes::default(), queued };
    let alone = group.len() == 1;
    let mut group = group.into_iter();
    while let Some(write) = group.next() {
        // A change alone in its transaction needs no savepoint of its own, nor does one that
        // only the database can fail (maybe halfway through): if it fails, the group goes back.
        if alone || write.kind != Kind::Refusable {
            let Err(failure) = apply_plain(&transaction, write, &events.node, &mut done) else {
                continue;
            };
            drop(transaction);
            let failure = failure.shared();
            done.pending.into_iter().for_each(|answer| answer(Some(&failure)));
            group.for_each(|write| write.operation.fail(&failure));
            return;
        }
        apply_in_savepoint(&mut transaction, write, &events.node, &mut done);
    }
    let failure = transaction.commit().err().map(Failure::of_sqlite);
    if let Some(failure) = &failure {
        tracing::error!("store commit failed: {failure:?}");
    }
    // Announce before answering, so a caller that reads the counts (or waits for an event)
    // right after its change sees it.
    if failure.is_none() {
        events.publish(&done.announced);
    }
    for answer in done.pending {
        answer(failure.as_ref());
    }
}

/// Applies an operation in the group's transaction; a failure fails the group (the failing
/// operation is answered with its own error).
fn apply_plain(
    db: &Connection,
    write: Write,
    node: &str,
    done: &mut Progress,
) -> Result<(), Failure> {
    let mut changed = Changes::default();
    let group = Group { node, queued: done.queued };
    let refusable = write.kind == Kind::Refusable;
    let Applied { answer, verdict } = write.operation.apply(db, &mut changed, &group);
    match verdict {
        Verdict::Done => done.kept(answer, changed),
        // A refusable change alone in its group may have written before it refused: the
        // group goes back with it (it has no other change to fail).
        Verdict::Refused if refusable => {
            answer(None);
            return Err(Failure::Other("the change was refused".into()));
        }
        // Refused before it wrote anything (see [`Write`]).
        Verdict::Refused => answer(None),
        Verdict::Failed(failure) => {
            answer(None);
            return Err(failure);
        }
    }
    Ok(())
}

/// Applies an operation inside a savepoint of its own: if it fails or refuses, only it goes
/// back.
fn apply_in_savepoint(
    transaction: &mut rusqlite::Transaction<'_>,
    write: Write,
    node: &str,
    done: &mut Progress,
) {
    let savepoint = match transaction.savepoint() {
        Ok(savepoint) => savepoint,
        Err(e) => return write.operation.fail(&Failure::of_sqlite(e)),
    };
    let mut changed = Changes::default();
    let group = Group { node, queued: done.queued };
    let Applied { answer, verdict } = write.operation.apply(&savepoint, &mut changed, &group);
    match verdict {
        // Dropping a savepoint rolls it back.
        Verdict::Refused | Verdict::Failed(_) => done.pending.push(answer),
        Verdict::Done => match savepoint.commit() {
            Ok(()) => done.kept(answer, changed),
            Err(e) => answer(Some(&Failure::of_sqlite(e))),
        },
    }
}
