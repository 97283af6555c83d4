//! One worker process seen from the supervisor: spawning it isolated, the hello handshake,
//! the frames to and from it, answering its jobs' calls, and telling how it died.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::host::{Caller, OutputSink, TaskHost};
use crate::ipc::{self, FrameReader, FromWorker, IpcError, PROTOCOL_VERSION, ToWorker};
use crate::job::{JobSpec, Stream, TaskCall, TaskReply};

/// A get ends this long before the job's deadline, leaving time for the answer to arrive.
const GET_MARGIN: Duration = Duration::from_millis(50);

/// How long a new worker may take to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a worker could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The process could not be created.
    #[error("cannot start worker `{exe}`: {source}")]
    Spawn {
        /// The executable.
        exe: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// It started but did not greet properly.
    #[error("worker {pid} did not start: {reason}")]
    Handshake {
        /// Its pid.
        pid: u32,
        /// What went wrong.
        reason: String,
    },
}

/// A live worker process and its channel.
pub struct WorkerProcess {
    child: Child,
    input: ChildStdin,
    output: FrameReader<ChildStdout>,
    pid: u32,
}

impl WorkerProcess {
    /// Starts `exe worker` with an empty environment, `dir` as its working directory and
    /// only its channel as descriptors, and waits for its hello. With `live_output` the
    /// worker also sends its jobs' output as it is written.
    ///
    /// The worker asks the kernel to kill it when its parent *thread* exits, so this must be
    /// called from a thread that lives as long as the pool (a tokio runtime worker thread,
    /// never a blocking-pool thread).
    pub async fn spawn(exe: &Path, dir: &Path, live_output: bool) -> Result<Self, SpawnError> {
        let mut command = Command::new(exe);
        // SAFETY: the closure runs in the forked child before exec and only makes raw
        // system calls, which are async-signal-safe; it touches no memory of the parent.
        #[allow(unsafe_code)]
        unsafe {
            command.pre_exec(isolate);
        }
        let mut child = command
            .arg("worker")
            .arg("--parent-pid")
            .arg(std::process::id().to_string())
            .args(live_output.then_some("--live-output"))
            .env_clear()
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| SpawnError::Spawn { exe: exe.to_path_buf(), source })?;
        let pid = child.id().unwrap_or(0);
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(forward_stderr(pid, stderr));
        }
        let (Some(input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
            unreachable!("stdin and stdout were piped");
        };
        let mut worker = WorkerProcess { child, input, output: FrameReader::new(output), pid };
        worker.handshake().await?;
        Ok(worker)
    }

    async fn handshake(&mut self) -> Result<(), SpawnError> {
        let pid = self.pid;
        let failed = |reason: String| SpawnError::Handshake { pid, reason };
        let hello = tokio::time::timeout(HELLO_TIMEOUT, self.output.next())
            .await
            .map_err(|_| failed(format!("no hello within {HELLO_TIMEOUT:?}")))?;
        match hello {
            Ok(Some(FromWorker::Hello { version: PROTOCOL_VERSION, .. })) => Ok(()),
            Ok(Some(FromWorker::Hello { version, .. })) => Err(failed(format!(
                "it speaks protocol {version}, this host speaks {PROTOCOL_VERSION}"
            ))),
            Ok(Some(other)) => Err(failed(format!("expected hello, got {other:?}"))),
            Ok(None) => Err(failed(self.death_cause().await)),
            Err(e) => Err(failed(e.to_string())),
        }
    }

    /// The worker's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Asks for the jobs sent and not started back ([`FromWorker::Recalled`] answers).
    pub async fn recall(&mut self) -> Result<(), String> {
        self.write_message(&ToWorker::Recall).await
    }

    /// Answers the running job's call.
    pub async fn reply(&mut self, call: u64, reply: TaskReply) -> Result<(), String> {
        self.write_message(&ToWorker::Reply { call, reply }).await
    }

    async fn write_message(&mut self, message: &ToWorker) -> Result<(), String> {
        let mut frame = Vec::new();
        match ipc::write_frame(&mut frame, message) {
            Ok(()) => self.send(frame).await,
            Err(e) => Err(self.died_of(e).await),
        }
    }

    /// Writes frames (made by [`encode_job`], or one message) in one write. `Err` says how
    /// the worker died.
    pub async fn send(&mut self, bytes: Vec<u8>) -> Result<(), String> {
        use tokio::io::AsyncWriteExt;
        match self.input.write_all(&bytes).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.died_of(e.into()).await),
        }
    }

    /// The next frame the worker sends. Cancel-safe. `Err` says how the worker died (or
    /// broke the protocol, in which case it has been killed).
    pub async fn next_frame(&mut self) -> Result<FromWorker, String> {
        match self.output.next::<FromWorker>().await {
            Ok(Some(frame)) => Ok(frame),
            Ok(None) => Err(self.death_cause().await),
            Err(e) => Err(self.died_of(e).await),
        }
    }

    /// Kills the worker.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Waits for the worker to exit by itself (it died while idle).
    pub async fn exited(&mut self) -> String {
        self.death_cause().await
    }

    /// Asks the worker to finish, and kills it if it does not within a moment.
    pub async fn shutdown(mut self) {
        let _ = ipc::write_frame_async(&mut self.input, &ToWorker::Shutdown).await;
        if tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await.is_err() {
            self.kill().await;
        }
    }

    async fn died_of(&mut self, error: IpcError) -> String {
        match error {
            IpcError::Io(_) | IpcError::Truncated => self.death_cause().await,
            other => {
                self.kill().await;
                format!("protocol error: {other}")
            }
        }
    }

    /// Reaps the process and describes how it ended.
    async fn death_cause(&mut self) -> String {
        match self.child.wait().await {
            Ok(status) => describe_exit(self.pid, status),
            Err(e) => format!("worker {} vanished: {e}", self.pid),
        }
    }
}

/// Appends the frame that hands `job` to a worker to `frames`, and gives the job back (the
/// driver keeps it until it ended, to hand it to another worker if this one never starts
/// it). Fails only for a job whose frame would exceed the size limit.
pub fn encode_job(frames: &mut Vec<u8>, job: JobSpec) -> (JobSpec, Result<(), IpcError>) {
    let message = ToWorker::Run(Box::new(job));
    let written = ipc::write_frame(frames, &message);
    let ToWorker::Run(job) = message else { unreachable!("built above") };
    (*job, written)
}

/// Closes every descriptor above stderr in a freshly forked worker. Rust opens its own
/// descriptors close-on-exec, but a host may have been handed others (a make jobserver's
/// pipes, a supervisor's sockets) that would otherwise leak into every worker.
/// In the forked child before exec: a session (and so a process group) of its own, so the
/// signals of the host's terminal (a Ctrl-C meant to drain the host) never reach a worker;
/// and no descriptor but the channel.
fn isolate() -> std::io::Result<()> {
    rustix::process::setsid()?;
    close_inherited_descriptors()
}

fn close_inherited_descriptors() -> std::io::Result<()> {
    // SAFETY: plain system calls on descriptor numbers; nothing in this process uses the
    // descriptors being closed, since exec follows at once.
    #[allow(unsafe_code)]
    unsafe {
        if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) != 0 {
            // Kernels before 5.9 lack close_range: close them one by one.
            for fd in 3..libc::sysconf(libc::_SC_OPEN_MAX).clamp(0, 65536) as i32 {
                libc::close(fd);
            }
        }
    }
    Ok(())
}

/// An attempt's live output, from its start to its end (when this is dropped).
pub struct Live {
    sink: Arc<dyn OutputSink>,
    caller: Caller,
}

impl Live {
    /// Tells `sink` the attempt started.
    pub fn start(sink: Arc<dyn OutputSink>, caller: &Caller) -> Self {
        sink.started(caller);
        Live { sink, caller: caller.clone() }
    }

    /// Passes on output the attempt wrote.
    pub fn output(&self, stream: Stream, bytes: &[u8]) {
        self.sink.output(&self.caller, stream, bytes);
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.sink.ended(&self.caller);
    }
}

/// The last queue item handed to the running job, kept until the job shows it used it.
pub struct Delivered {
    /// The call it answered.
    pub call: u64,
    queue: String,
    id: i64,
    item: Vec<u8>,
}

impl Delivered {
    /// Puts the item back in its queue.
    pub async fn restore(self, host: &dyn TaskHost) {
        host.restore(self.queue, self.id, self.item).await;
    }
}

/// How a call was answered: a reply, or an item taken from a queue.
pub enum Answer {
    /// The reply to send.
    Reply(TaskReply),
    /// An item taken from a queue for a get.
    Item {
        /// Its queue.
        queue: String,
        /// Its id there.
        id: i64,
        /// The item.
        item: Vec<u8>,
    },
}

impl Answer {
    /// Puts back the item the answer took from a queue, if any: the job it was for ended
    /// before the answer reached it.
    pub async fn restore(self, host: &dyn TaskHost) {
        if let Answer::Item { queue, id, item } = self {
            host.restore(queue, id, item).await;
        }
    }

    /// The reply to send for call number `call`, and the item it hands over, if any.
    pub fn into_reply(self, call: u64) -> (TaskReply, Option<Delivered>) {
        match self {
            Answer::Reply(reply) => (reply, None),
            Answer::Item { queue, id, item } => {
                let reply = TaskReply::Get(Some(item.clone()));
                (reply, Some(Delivered { call, queue, id, item }))
            }
        }
    }
}

/// Answers a running job's call through `host`. A get waits no longer than `remaining`, the
/// time the job has left, so its answer reaches the guest before the job's own timeout.
pub async fn answer_call(
    host: Arc<dyn TaskHost>,
    caller: Caller,
    request: TaskCall,
    remaining: Option<Duration>,
) -> Answer {
    let host = host.as_ref();
    let caller = &caller;
    match request {
        TaskCall::Put { queue, item } => {
            Answer::Reply(TaskReply::Put(host.put(caller.clone(), queue, item).await))
        }
        TaskCall::Get { queue, timeout_ms } => {
            let wait = Duration::from_millis(timeout_ms.into());
            let wait = remaining.map_or(wait, |left| wait.min(left.saturating_sub(GET_MARGIN)));
            match host.get(caller.clone(), queue, wait).await {
                Some((stored, id, item)) => Answer::Item { queue: stored, id, item },
                None => Answer::Reply(TaskReply::Get(None)),
            }
        }
        TaskCall::Len { queue } => {
            Answer::Reply(TaskReply::Len(host.len(caller.clone(), queue).await))
        }
        TaskCall::Progress { percent, message } => {
            host.progress(caller.clone(), percent, message).await;
            Answer::Reply(TaskReply::Noted)
        }
        TaskCall::Parents => Answer::Reply(TaskReply::Parents(host.parents(caller.clone()).await)),
        TaskCall::Spawn { job } => {
            Answer::Reply(TaskReply::Spawned(host.spawn(caller.clone(), job).await))
        }
    }
}

/// `worker 123 killed by signal 9 (SIGKILL)` or `worker 123 exited with status 3`.
pub fn describe_exit(pid: u32, status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("worker {pid} exited with status {code}"),
        (None, Some(signal)) => {
            let name = signal_name(signal).map(|name| format!(" ({name})"));
            format!("worker {pid} killed by signal {signal}{}", name.unwrap_or_default())
        }
        (None, None) => format!("worker {pid} ended: {status}"),
    }
}

fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        31 => "SIGSYS, a forbidden system call",
        _ => return None,
    })
}

/// Worker processes log to stderr; their lines join the host's log, tagged with the pid, at
/// most [`LOG_BURST`] at once and [`LOG_RATE`] a second after that: a guest can make its
/// worker log (wasmtime warns on every call of an unimplemented WASI function), and must not
/// flood the host's log. Lines past the rate are counted and reported in one line.
async fn forward_stderr(pid: u32, stderr: tokio::process::ChildStderr) {
    let mut lines = BufReader::new(stderr).lines();
    let mut budget = LogBudget::new();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(dropped) = budget.dropped_before_this() {
            tracing::warn!(
                worker = pid,
                "{dropped} log line(s) of this worker were dropped (rate limit)"
            );
        }
        if budget.take() {
            let line: String = line.chars().take(LOG_LINE_CHARS).collect();
            tracing::warn!(worker = pid, "{line}");
        }
    }
    if let Some(dropped) = budget.dropped_before_this() {
        tracing::warn!(
            worker = pid,
            "{dropped} log line(s) of this worker were dropped (rate limit)"
        );
    }
}

/// Lines a worker may log at once...
const LOG_BURST: f64 = 100.0;
/// ...and per second after that.
const LOG_RATE: f64 = 20.0;
/// A forwarded line is cut to this many characters.
const LOG_LINE_CHARS: usize = 1000;

/// A token bucket over a worker's log lines, counting what it refused.
struct LogBudget {
    tokens: f64,
    refilled: Instant,
    dropped: u64,
}

impl LogBudget {
    fn new() -> Self {
        LogBudget { tokens: LOG_BURST, refilled: Instant::now(), dropped: 0 }
    }

    /// Whether a line may be forwarded now (counting it as dropped if not).
    fn take(&mut self) -> bool {
        let now = Instant::now();
        let earned = now.duration_since(self.refilled).as_secs_f64() * LOG_RATE;
        self.tokens = (self.tokens + earned).min(LOG_BURST);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            self.dropped += 1;
            false
        }
    }

    /// The lines dropped since the last report, once the budget allows a line again (so a
    /// flood is reported once per refill, not once per line).
    fn dropped_before_this(&mut self) -> Option<u64> {
        let can_report = self.tokens + self.refilled.elapsed().as_secs_f64() * LOG_RATE >= 1.0;
        (self.dropped > 0 && can_report).then(|| std::mem::take(&mut self.dropped))
    }
}
