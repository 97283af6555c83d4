//! The driver of one worker slot: keeps a live worker process in the slot, hands it the
//! jobs it takes from the pool's queue, and replaces the process whenever it dies or has to
//! be killed.
//!
//! The jobs sent to a worker form a line: the first is running (as far as the driver can
//! tell: a worker starts its next job as soon as it has sent the `Done` of the one before),
//! the rest wait in the worker's inbox. While jobs are short and no other worker is idle, a
//! busy driver sends up to the pool's depth ahead ([`super::pace`]), in one write with
//! whatever else the queue holds. Once the running job has run [`RECALL_AFTER`], the pool
//! learns that jobs turned long (its room for jobs ahead closes), and the driver takes back
//! whatever waits behind the job and returns it to the pool's queue for the next free worker.
//! A job sent ahead is never lost: when a worker dies or is killed, what waited behind its
//! job never started (the worker runs them one after another) and goes back to the queue.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::line::{Current, Line, Stopping};
use super::process::{Answer, WorkerProcess, encode_job};
use super::{Assignment, Shared, WorkerState};
use crate::ipc::FromWorker;
use crate::job::{Completed, JobResult, Outcome};

/// Backoff between failed attempts to start a worker, doubling up to the maximum.
const RESPAWN_BACKOFF: Duration = Duration::from_millis(100);
const RESPAWN_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Takes back the jobs waiting behind one that has run this long.
pub(super) const RECALL_AFTER: Duration = Duration::from_millis(20);
/// How long a worker about to be killed may take to give back the jobs waiting in it.
const RECALL_PATIENCE: Duration = Duration::from_secs(1);

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

/// What woke a driver.
enum Event {
    Shutdown,
    Died(String),
    Job(Box<Assignment>),
    QueueClosed,
    Frame(FromWorker),
    Cancelled,
    Overdue,
    Long,
    Answered(u64, Answer),
    StopNow,
}

/// Why a worker has to go while it has a job.
pub(super) enum Stop {
    Cancelled,
    Overdue,
    Died(String),
    Shutdown,
    /// Its watchdog ended the job it was computing ([`FromWorker::Overran`]): the job's
    /// result is recorded, and the worker's thread is still in the guest.
    Overran,
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
    let mut line = Line::default();
    loop {
        line.start_next(slot, pid, shared);
        let wake = Wake {
            send_ahead: line.may_send_ahead(shared),
            long_at: line.long_at(),
            stop_at: line.stopping.as_ref().map(|stopping| stopping.deadline),
        };
        let event = match &mut line.current {
            None => idle(slot, pid, shared, queue, &mut worker).await,
            Some(current) => {
                current.answer_next(&shared.config.host);
                busy(shared, queue, &mut worker, current, wake).await
            }
        };
        let no_job = line.current.is_none();
        let stop = match event {
            Event::Shutdown | Event::QueueClosed if no_job => {
                worker.shutdown().await;
                return false;
            }
            Event::Died(cause) if no_job => {
                tracing::warn!(slot, "{cause} while idle; replacing it");
                return true;
            }
            event => match act(slot, shared, queue, &mut worker, &mut line, event).await {
                Ok(()) => continue,
                Err(stop) => stop,
            },
        };
        end_line(slot, shared, &mut worker, line, stop).await;
        return true;
    }
}

/// Acts on an event while the worker has a job (or is sent one); `Err` when the worker has
/// to go, and why.
async fn act(
    slot: usize,
    shared: &Shared,
    queue: &async_channel::Receiver<Assignment>,
    worker: &mut WorkerProcess,
    line: &mut Line,
    event: Event,
) -> Result<(), Stop> {
    let pid = worker.pid();
    match event {
        Event::Shutdown | Event::QueueClosed => Err(Stop::Shutdown),
        Event::Died(cause) => Err(Stop::Died(cause)),
        Event::Cancelled | Event::Overdue if !line.waiting.is_empty() => {
            let stop =
                if matches!(event, Event::Cancelled) { Stop::Cancelled } else { Stop::Overdue };
            stop_after_recall(worker, line, stop).await.map_err(Stop::Died)
        }
        Event::Cancelled => Err(Stop::Cancelled),
        Event::Overdue => Err(Stop::Overdue),
        Event::StopNow => {
            let stopping = line.stopping.take().expect("stopping");
            Err(match &line.current {
                Some(current) if current.caller.job_id == stopping.job_id => stopping.stop,
                _ => Stop::Died(format!(
                    "worker {pid} did not give back its waiting jobs within {RECALL_PATIENCE:?}"
                )),
            })
        }
        Event::Job(first) => send(worker, line, *first, shared, queue).await.map_err(Stop::Died),
        Event::Long => running_long(shared, worker, line).await.map_err(Stop::Died),
        Event::Answered(call, answer) => {
            let current = line.current.as_mut().expect("answering for the running job");
            current.answering = None;
            let (reply, delivered) = answer.into_reply(call);
            if delivered.is_some() {
                current.delivered = delivered;
            }
            worker.reply(call, reply).await.map_err(Stop::Died)
        }
        Event::Frame(frame) => match on_frame(slot, pid, shared, line, frame).await {
            Ok(None) => line.stop_due().map_or(Ok(()), Err),
            Ok(Some(stop)) => Err(stop),
            Err(cause) => {
                worker.kill().await;
                Err(Stop::Died(cause))
            }
        },
    }
}

/// The running job has run [`RECALL_AFTER`]: the pool learns that jobs turned long, and the
/// jobs waiting behind it are taken back.
async fn running_long(
    shared: &Shared,
    worker: &mut WorkerProcess,
    line: &mut Line,
) -> Result<(), String> {
    let current = line.current.as_mut().expect("a running job");
    current.long = true;
    shared.running_long(current.started.elapsed());
    if line.waiting.is_empty() || line.recalling {
        return Ok(());
    }
    worker.recall().await?;
    line.recalling = true;
    Ok(())
}

/// Waits for a job while the worker is idle.
async fn idle(
    slot: usize,
    pid: u32,
    shared: &Shared,
    queue: &async_channel::Receiver<Assignment>,
    worker: &mut WorkerProcess,
) -> Event {
    shared.set_worker(slot, pid, WorkerState::Idle);
    shared.idle.fetch_add(1, Ordering::Relaxed);
    let event = tokio::select! {
        () = shared.shutdown.cancelled() => Event::Shutdown,
        cause = worker.exited() => Event::Died(cause),
        job = queue.recv() => job.map_or(Event::QueueClosed, |job| Event::Job(Box::new(job))),
    };
    shared.idle.fetch_sub(1, Ordering::Relaxed);
    event
}

/// What a busy driver waits for besides its worker's frames.
struct Wake {
    /// Another job from the queue, to send ahead.
    send_ahead: bool,
    /// The time the running job counts as running long.
    long_at: Option<Instant>,
    /// The time to kill a worker that has not given back its waiting jobs; while it is set,
    /// the running job is being stopped already.
    stop_at: Option<Instant>,
}

/// Waits for what happens next while the worker runs `current`.
async fn busy(
    shared: &Shared,
    queue: &async_channel::Receiver<Assignment>,
    worker: &mut WorkerProcess,
    current: &mut Current,
    wake: Wake,
) -> Event {
    let Current { assignment, hard_deadline, answering, .. } = current;
    let answering = answering.as_mut();
    let has_answer = answering.is_some();
    let stopping = wake.stop_at.is_some();
    tokio::select! {
        biased;
        () = shared.shutdown.cancelled() => Event::Shutdown,
        () = assignment.cancel.cancelled(), if !stopping => Event::Cancelled,
        () = sleep_until(*hard_deadline), if !stopping => Event::Overdue,
        () = sleep_until(wake.stop_at) => Event::StopNow,
        (call, answer) = async {
            let (call, answer) = answering.expect("answering");
            (*call, answer.await)
        }, if has_answer => Event::Answered(call, answer),
        frame = worker.next_frame() => match frame {
            Ok(frame) => Event::Frame(frame),
            Err(cause) => Event::Died(cause),
        },
        () = sleep_until(wake.long_at) => Event::Long,
        job = queue.recv(), if wake.send_ahead => {
            job.map_or(Event::QueueClosed, |job| Event::Job(Box::new(job)))
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Starts stopping the running job: asks for the jobs waiting behind it first (see
/// [`Stopping`]).
async fn stop_after_recall(
    worker: &mut WorkerProcess,
    line: &mut Line,
    stop: Stop,
) -> Result<(), String> {
    if !line.recalling {
        worker.recall().await?;
        line.recalling = true;
    }
    let job_id = line.current.as_ref().expect("a running job").caller.job_id.clone();
    line.stopping = Some(Stopping { job_id, stop, deadline: Instant::now() + RECALL_PATIENCE });
    Ok(())
}

/// Sends `first` to the worker, behind any job it has, with whatever more the queue holds
/// while the line has room, in one write. A job cancelled before it was sent ends here, and
/// one its caller took back is dropped.
async fn send(
    worker: &mut WorkerProcess,
    line: &mut Line,
    first: Assignment,
    shared: &Shared,
    queue: &async_channel::Receiver<Assignment>,
) -> Result<(), String> {
    let mut frames = Vec::new();
    let mut next = Some(first);
    while let Some(mut assignment) = next.take() {
        if !assignment.hold.take() {
            // Its caller took it back (it waited too long); only its room is left to free.
            assignment.reply.withdrawn();
            shared.release(assignment.permit);
        } else if assignment.cancel.is_cancelled() || shared.shutdown.is_cancelled() {
            let result = JobResult::without_output(assignment.job.id.clone(), Outcome::Cancelled);
            finish(shared, assignment, result, 0, None);
        } else {
            let (job, written) = encode_job(&mut frames, assignment.job);
            assignment.job = job;
            match written {
                Ok(()) => line.waiting.push_back(assignment),
                Err(e) => {
                    let id = assignment.job.id.clone();
                    let result = JobResult::without_output(id, Outcome::LoadFailed(e.to_string()));
                    finish(shared, assignment, result, 0, None);
                }
            }
        }
        if line.may_send_ahead(shared) {
            next = queue.try_recv().ok();
        }
    }
    if frames.is_empty() { Ok(()) } else { worker.send(frames).await }
}

/// Acts on a frame from the worker: `Some` stop when the worker has to go, `Err` a protocol
/// error.
async fn on_frame(
    slot: usize,
    pid: u32,
    shared: &Shared,
    line: &mut Line,
    frame: FromWorker,
) -> Result<Option<Stop>, String> {
    if let FromWorker::Recalled(ids) = frame {
        return take_back(slot, pid, shared, line, ids).map(|()| None);
    }
    let Some(current) = line.current.as_mut() else {
        return Err(format!("protocol error: {frame:?} while no job runs"));
    };
    match frame {
        FromWorker::Done { result, replies_used } => {
            ended(slot, pid, shared, line, *result, replies_used).await;
        }
        FromWorker::Overran { result, replies_used } => {
            ended(slot, pid, shared, line, *result, replies_used).await;
            return Ok(Some(Stop::Overran));
        }
        FromWorker::Call { call, request } => current.calls.push_back((call, request)),
        FromWorker::Output { stream, bytes } => {
            if let Some(live) = &current.live {
                live.output(stream, &bytes);
            }
        }
        other => return Err(format!("protocol error: expected a result, got {other:?}")),
    }
    Ok(None)
}

/// Records the running job's result.
async fn ended(
    slot: usize,
    pid: u32,
    shared: &Shared,
    line: &mut Line,
    result: JobResult,
    replies_used: u64,
) {
    let mut current = line.current.take().expect("a running job");
    let host = shared.config.host.as_ref();
    // The job ended (its own timeout) while a call of its was being answered: the answer
    // never reaches it.
    if let Some((_, answering)) = current.answering.take() {
        answering.await.restore(host).await;
    }
    if let Some(item) = current.delivered.take().filter(|item| item.call > replies_used) {
        item.restore(host).await;
    }
    shared.observe(result.run_time);
    finish(shared, current.assignment, result, pid, Some(current.started_at));
    if line.waiting.is_empty() {
        shared.set_worker(slot, pid, WorkerState::Idle);
    }
}

/// Returns the jobs the worker gave back unstarted to the pool's queue.
fn take_back(
    slot: usize,
    pid: u32,
    shared: &Shared,
    line: &mut Line,
    ids: Vec<String>,
) -> Result<(), String> {
    line.recalling = false;
    for id in ids {
        // The job the driver counts as running may be among them: the worker had not
        // started it yet.
        let assignment = if line.current.as_ref().is_some_and(|current| current.caller.job_id == id)
        {
            line.current.take().map(|current| current.assignment)
        } else {
            let at = line.waiting.iter().position(|waiting| waiting.job.id == id);
            at.and_then(|at| line.waiting.remove(at))
        };
        let Some(assignment) = assignment else {
            return Err(format!("protocol error: job {id} given back was not sent"));
        };
        requeue(shared, assignment);
    }
    if line.current.is_none() && line.waiting.is_empty() {
        shared.set_worker(slot, pid, WorkerState::Idle);
    }
    Ok(())
}

/// Ends a worker's line when the worker has to go: kills it, ends the running job as `stop`
/// says, and gives the jobs waiting behind it, which never started, back to the queue (at
/// shutdown it cancels them, as it does the running one).
async fn end_line(
    slot: usize,
    shared: &Shared,
    worker: &mut WorkerProcess,
    line: Line,
    stop: Stop,
) {
    worker.kill().await;
    let pid = worker.pid();
    shared.set_worker(slot, 0, WorkerState::Starting);
    if let Some(current) = line.current {
        let id = current.caller.job_id.clone();
        let outcome = match &stop {
            Stop::Cancelled | Stop::Shutdown => Outcome::Cancelled,
            Stop::Overdue => {
                tracing::warn!(slot, pid, job = %id, "worker overstayed the job's deadline; killed");
                shared.observe(current.started.elapsed());
                Outcome::TimedOut(current.assignment.job.limits.timeout.unwrap_or_default())
            }
            Stop::Died(cause) => {
                tracing::warn!(slot, job = %id, "{cause} while running the job");
                Outcome::WorkerDied(cause.clone())
            }
            // The overrun job's result came with the stop; this one never started.
            Stop::Overran => Outcome::WorkerDied("its worker was replaced".into()),
        };
        let result = JobResult::without_output(id, outcome);
        finish(shared, current.assignment, result, pid, Some(current.started_at));
    }
    for assignment in line.waiting {
        if matches!(stop, Stop::Shutdown) {
            let result = JobResult::without_output(assignment.job.id.clone(), Outcome::Cancelled);
            finish(shared, assignment, result, 0, None);
        } else {
            requeue(shared, assignment);
        }
    }
}

/// Answers the job's caller and gives its room in the pool back.
fn finish(
    shared: &Shared,
    assignment: Assignment,
    result: JobResult,
    worker_pid: u32,
    started_at: Option<SystemTime>,
) {
    let finished_at = SystemTime::now();
    let started_at = started_at.unwrap_or(finished_at);
    assignment.reply.ended(Completed { result, worker_pid, started_at, finished_at });
    shared.release(assignment.permit);
}

/// Puts a job that never started back in the pool's queue, behind the jobs there. If the
/// pool is shutting down it is dropped, which its caller sees as the pool's end.
fn requeue(shared: &Shared, assignment: Assignment) {
    assignment.hold.put_back();
    assignment.reply.waiting(&assignment.hold);
    let _ = shared.jobs.try_send(assignment);
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
