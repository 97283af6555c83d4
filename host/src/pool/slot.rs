//! The driver of one worker slot: keeps a live worker process in the slot, hands it the
//! jobs it takes from the pool's queue, and replaces the process whenever it dies or has to
//! be killed.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use super::process::{RunEnd, WorkerProcess};
use super::{Assignment, Shared, WorkerState};
use crate::job::{Completed, JobResult, Outcome};

/// Backoff between failed attempts to start a worker, doubling up to the maximum.
const RESPAWN_BACKOFF: Duration = Duration::from_millis(100);
const RESPAWN_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What woke an idle driver.
enum Event {
    Shutdown,
    Died(String),
    Job(Box<Assignment>),
    QueueClosed,
}

/// Runs the slot until the pool shuts down.
pub(super) async fn drive(
    slot: usize,
    shared: Arc<Shared>,
    queue: async_channel::Receiver<Assignment>,
) {
    let mut backoff = RESPAWN_BACKOFF;
    loop {
        shared.set_worker(slot, 0, WorkerState::Starting);
        let dir = fresh_dir(&shared, slot);
        let spawned = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            spawned = WorkerProcess::spawn(&shared.config.executable, &dir, shared.config.output.is_some()) => spawned,
        };
        let worker = match spawned {
            Ok(worker) => worker,
            Err(e) => {
                tracing::error!(slot, "{e}; retrying in {backoff:?}");
                tokio::select! {
                    () = shared.shutdown.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(RESPAWN_BACKOFF_MAX);
                continue;
            }
        };
        backoff = RESPAWN_BACKOFF;
        tracing::debug!(slot, pid = worker.pid(), "worker started");
        if !serve(slot, &shared, &queue, worker).await {
            return;
        }
        shared.restarts.fetch_add(1, Ordering::Relaxed);
    }
}

/// Feeds jobs to one live worker. Returns `true` when the worker must be replaced and
/// `false` when the pool is shutting down.
async fn serve(
    slot: usize,
    shared: &Shared,
    queue: &async_channel::Receiver<Assignment>,
    mut worker: WorkerProcess,
) -> bool {
    let pid = worker.pid();
    loop {
        shared.set_worker(slot, pid, WorkerState::Idle);
        let event = tokio::select! {
            () = shared.shutdown.cancelled() => Event::Shutdown,
            cause = worker.exited() => Event::Died(cause),
            job = queue.recv() => job.map_or(Event::QueueClosed, |job| Event::Job(Box::new(job))),
        };
        let assignment = match event {
            Event::Shutdown | Event::QueueClosed => {
                worker.shutdown().await;
                return false;
            }
            Event::Died(cause) => {
                tracing::warn!(slot, "{cause} while idle; replacing it");
                return true;
            }
            Event::Job(assignment) => assignment,
        };
        if !run_one(slot, shared, &mut worker, *assignment).await {
            return true;
        }
    }
}

/// Runs one assignment on the worker and replies. Returns whether the worker is still fit.
async fn run_one(
    slot: usize,
    shared: &Shared,
    worker: &mut WorkerProcess,
    assignment: Assignment,
) -> bool {
    let Assignment { job, cancel, reply, permit } = assignment;
    let pid = worker.pid();
    let id = job.id.clone();
    let started_at = SystemTime::now();
    let (result, fit) = if cancel.is_cancelled() || shared.shutdown.is_cancelled() {
        (JobResult::without_output(id, Outcome::Cancelled), true)
    } else {
        shared.set_worker(slot, pid, WorkerState::Busy { job_id: id.clone(), since: started_at });
        let timeout = job.limits.timeout;
        let hard_deadline = timeout.map(|limit| limit + shared.config.grace);
        // The pool shutting down cancels the job as well.
        let cancelled = async {
            tokio::select! {
                () = cancel.cancelled() => {}
                () = shared.shutdown.cancelled() => {}
            }
        };
        let config = &shared.config;
        match worker
            .run(job, config.host.as_ref(), config.output.as_deref(), cancelled, hard_deadline)
            .await
        {
            RunEnd::Done(result) => (*result, true),
            RunEnd::Cancelled => (JobResult::without_output(id, Outcome::Cancelled), false),
            RunEnd::Overdue => {
                tracing::warn!(slot, pid, job = %id, "worker overstayed the job's deadline; killed");
                let limit = timeout.unwrap_or_default();
                (JobResult::without_output(id, Outcome::TimedOut(limit)), false)
            }
            RunEnd::Died(cause) => {
                tracing::warn!(slot, job = %id, "{cause} while running the job");
                (JobResult::without_output(id, Outcome::WorkerDied(cause)), false)
            }
        }
    };
    let finished_at = SystemTime::now();
    if fit {
        shared.set_worker(slot, pid, WorkerState::Idle);
    } else {
        shared.set_worker(slot, 0, WorkerState::Starting);
    }
    let _ = reply.send(Completed { result, worker_pid: pid, started_at, finished_at });
    drop(permit);
    fit
}

/// A new, empty working directory for the slot's next process.
fn fresh_dir(shared: &Shared, slot: usize) -> PathBuf {
    let dir = shared.config.work_dir.join(format!("worker-{slot}"));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        tracing::error!(slot, "cannot create {}: {e}", dir.display());
    }
    dir
}
