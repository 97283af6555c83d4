//! The loop inside a worker process: say hello, then take the next job sent, run it in the
//! sandbox, answer with its result, until the supervisor closes the channel or says to stop.
//!
//! The supervisor may send jobs ahead while jobs are short: they wait in [`Inbox`], in order,
//! until the one before has ended, and can be taken back unstarted ([`ToWorker::Recall`]).
//! Each `Done` is written as soon as its job ends, never held back to go with the next: a
//! result written before the worker dies is still in the pipe for the supervisor to read, so
//! it always knows which job was running when a worker died.
//!
//! The channel is the process's stdin and stdout, which the supervisor set up as pipes.
//! Both are moved to private descriptors at start and the standard ones pointed at
//! `/dev/null` (stdin) and stderr (stdout), so nothing a library prints can corrupt a frame.
//! A reader thread owns the input end (a thread, so a recall is answered while a guest
//! computes on the runtime's one thread); the output end is the [`outbox`]'s, which writes every
//! frame whole under a lock, so a job's `wasmpool:task` calls (sent while it runs), its output
//! (with `--live-output`) and their replies never interleave with half a frame, whatever is
//! cancelled when.

mod outbox;

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::BufReader;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use rustix::process::{Pid, Signal};
use tokio::sync::{Notify, oneshot};

use crate::ipc::{self, FromWorker, IpcError, PROTOCOL_VERSION, ToWorker};
use crate::job::{JobSpec, Stream, TaskCall, TaskReply};
use crate::sandbox::{Sandbox, TaskBackend};
use outbox::Outbox;

/// Why a worker stopped other than by being told to.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Setting up the process failed.
    #[error("worker setup: {0}")]
    Setup(#[from] std::io::Error),
    /// The channel to the supervisor failed.
    #[error("worker channel: {0}")]
    Channel(#[from] IpcError),
    /// The worker could not give up what it must not have.
    #[error("worker confinement: {0}")]
    Confine(#[from] crate::confine::ConfineError),
}

/// Runs the worker loop. `parent_pid` is the supervisor's pid: the worker arranges to be
/// killed when that process dies, and exits at once if it is already gone. With
/// `live_output`, a running job's output is also sent as it is written
/// ([`FromWorker::Output`]), for a host that shows it live.
pub fn main(parent_pid: u32, live_output: bool) -> Result<(), WorkerError> {
    // Dies with the host, even when the host is SIGKILLed and cannot clean up.
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(std::io::Error::from)?;
    if rustix::process::getppid() != Pid::from_raw(parent_pid as i32) {
        return Ok(());
    }
    let (input, output) = take_channel()?;
    // Before any other thread exists, so every thread to come inherits it.
    crate::confine::confine()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(serve(input, output, live_output))
}

async fn serve(input: OwnedFd, output: OwnedFd, live_output: bool) -> Result<(), WorkerError> {
    let (outgoing, flusher) = Outbox::start(output)?;
    let link = Link(Arc::new(LinkState {
        outgoing,
        live_output,
        pending: Mutex::default(),
        next: AtomicU64::new(1),
        used: AtomicU64::new(0),
    }));
    let inbox = Arc::new(Inbox::default());
    let reader = {
        let (link, inbox) = (link.clone(), inbox.clone());
        // A thread of its own: a computing guest holds the runtime's one thread, and a
        // recall must be answered while it computes.
        std::thread::Builder::new()
            .name("channel-reader".into())
            .spawn(move || read_frames(input, &link, &inbox))?
    };

    let pid = std::process::id();
    link.send(FromWorker::Hello { version: PROTOCOL_VERSION, pid });
    let overran = {
        let link = link.clone();
        Arc::new(move |result| {
            let replies_used = link.0.used.load(Ordering::SeqCst);
            link.send(FromWorker::Overran { result: Box::new(result), replies_used });
        })
    };
    let mut sandbox = Sandbox::new(pid, Some(Arc::new(link.clone())), overran);
    while let Some(job) = inbox.next().await {
        // `None`: the watchdog ended the job and the supervisor is replacing this worker,
        // which must start nothing more.
        let Some(result) = sandbox.run(job).await else { break };
        let replies_used = link.0.used.load(Ordering::SeqCst);
        link.send(FromWorker::Done { result: Box::new(result), replies_used });
    }
    drop(sandbox);
    let _ = reader.join();
    Ok(link.0.outgoing.close(flusher)?)
}

/// The jobs sent and not started, in order.
#[derive(Default)]
struct Inbox {
    state: Mutex<InboxState>,
    arrived: Notify,
}

#[derive(Default)]
struct InboxState {
    jobs: VecDeque<JobSpec>,
    /// The supervisor will send no more.
    closed: bool,
}

impl Inbox {
    fn state(&self) -> std::sync::MutexGuard<'_, InboxState> {
        self.state.lock().expect("inbox lock")
    }

    fn push(&self, job: JobSpec) {
        self.state().jobs.push_back(job);
        self.arrived.notify_one();
    }

    fn close(&self) {
        self.state().closed = true;
        self.arrived.notify_one();
    }

    /// Takes every job not started yet; returns their ids.
    fn recall(&self) -> Vec<String> {
        self.state().jobs.drain(..).map(|job| job.id).collect()
    }

    /// The next job; `None` once the supervisor sends no more and none waits.
    async fn next(&self) -> Option<JobSpec> {
        loop {
            {
                let mut state = self.state();
                if let Some(job) = state.jobs.pop_front() {
                    return Some(job);
                }
                if state.closed {
                    return None;
                }
            }
            // `notify_one` keeps a permit when nobody waits, so a job pushed between the look
            // above and this wait is not missed.
            self.arrived.notified().await;
        }
    }
}

/// Reads frames until the supervisor closes the channel: jobs go to the inbox, replies to
/// the call waiting for them.
fn read_frames(input: OwnedFd, link: &Link, inbox: &Inbox) {
    let mut input = BufReader::new(File::from(input));
    loop {
        match ipc::read_frame::<ToWorker>(&mut input) {
            Ok(Some(ToWorker::Run(job))) => inbox.push(*job),
            Ok(Some(ToWorker::Recall)) => link.send(FromWorker::Recalled(inbox.recall())),
            Ok(Some(ToWorker::Reply { call, reply })) => link.deliver(call, reply),
            Ok(Some(ToWorker::Shutdown)) | Ok(None) => break,
            Err(e) => {
                eprintln!("wasmpool worker: {e}");
                break;
            }
        }
    }
    inbox.close();
}

/// The worker's side of `wasmpool:task` calls: numbered requests out, replies matched back.
#[derive(Clone)]
struct Link(Arc<LinkState>);

struct LinkState {
    outgoing: Outbox,
    /// Whether the running job's output is sent as it is written.
    live_output: bool,
    pending: Mutex<HashMap<u64, oneshot::Sender<TaskReply>>>,
    next: AtomicU64,
    /// The highest call whose reply reached the guest.
    used: AtomicU64,
}

impl Link {
    fn send(&self, message: FromWorker) {
        self.0.outgoing.send(message);
    }

    fn deliver(&self, call: u64, reply: TaskReply) {
        // A reply nobody waits for any more (the job timed out meanwhile) is dropped here;
        // `replies_used` in the job's Done tells the supervisor to take it back.
        if let Some(waiting) = self.0.pending.lock().expect("link lock").remove(&call) {
            let _ = waiting.send(reply);
        }
    }
}

impl TaskBackend for Link {
    fn call(&self, request: TaskCall) -> BoxFuture<'static, Option<TaskReply>> {
        let link = self.clone();
        Box::pin(async move {
            let call = link.0.next.fetch_add(1, Ordering::SeqCst);
            let (reply, answer) = oneshot::channel();
            link.0.pending.lock().expect("link lock").insert(call, reply);
            link.send(FromWorker::Call { call, request });
            let reply = answer.await.ok()?;
            link.0.used.fetch_max(call, Ordering::SeqCst);
            Some(reply)
        })
    }

    fn output(&self, stream: Stream, bytes: &[u8]) {
        if self.0.live_output {
            self.0.outgoing.output(stream, bytes);
        }
    }
}

/// Moves the channel off the standard descriptors.
fn take_channel() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let input = rustix::io::dup(std::io::stdin().as_fd())?;
    // Read with blocking calls by the reader thread, whatever mode the pipe came in.
    let flags = rustix::fs::fcntl_getfl(&input)?;
    rustix::fs::fcntl_setfl(&input, flags - rustix::fs::OFlags::NONBLOCK)?;
    let output = rustix::io::dup(std::io::stdout().as_fd())?;
    let null = File::open("/dev/null")?;
    rustix::stdio::dup2_stdin(&null)?;
    rustix::stdio::dup2_stdout(std::io::stderr().as_fd())?;
    Ok((input, output))
}
