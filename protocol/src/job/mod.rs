//! What a job is and what it ends with: the types shared by the command line, the pool,
//! the IPC protocol and the sandbox, and the rules of a job's life: its states and their
//! legal transitions ([`JobState`]), which state an attempt's [`Outcome`] leads to, and when
//! an attempt is tried again. The store, the dispatcher and the API take these rules from
//! here; nothing else decides them.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A job's lifecycle: `queued → running → succeeded | failed | timed_out | cancelled`; a job
/// that runs after others (`after`) starts `waiting` and is queued when its last parent ends,
/// or ends `cancelled` or `skipped` when a parent fails (`crate::workflow::ParentFailure`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for the jobs it runs after (its parents) to end.
    Waiting,
    /// Waiting for a worker (or for its delay or retry backoff to pass).
    Queued,
    /// On a worker now.
    Running,
    /// Exited with code 0.
    Succeeded,
    /// Exited non-zero, trapped, hit a memory or fuel limit, could not load, or its worker died.
    Failed,
    /// Ran past its timeout.
    TimedOut,
    /// Cancelled before or while running.
    Cancelled,
    /// Not run, because a parent failed and the job asked to be skipped then
    /// (`"on_parent_failure": "skip"`); counts as done for its own children.
    Skipped,
}

impl JobState {
    /// Every state, in lifecycle order.
    pub const ALL: [JobState; 8] = [
        JobState::Waiting,
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::TimedOut,
        JobState::Cancelled,
        JobState::Skipped,
    ];

    /// The state's name as it appears in JSON and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Waiting => "waiting",
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::TimedOut => "timed_out",
            JobState::Cancelled => "cancelled",
            JobState::Skipped => "skipped",
        }
    }

    /// The states a cancel changes: waiting and queued first, then running.
    pub const CANCELLABLE: [JobState; 3] = [JobState::Waiting, JobState::Queued, JobState::Running];

    /// The states a retry changes.
    pub const RETRYABLE: [JobState; 4] =
        [JobState::Failed, JobState::TimedOut, JobState::Cancelled, JobState::Skipped];

    /// The states a delete removes: every ended one.
    pub const DELETABLE: [JobState; 5] = [
        JobState::Succeeded,
        JobState::Failed,
        JobState::TimedOut,
        JobState::Cancelled,
        JobState::Skipped,
    ];

    /// Whether the job has ended.
    pub fn is_terminal(self) -> bool {
        !matches!(self, JobState::Waiting | JobState::Queued | JobState::Running)
    }

    /// The legal transitions. `running → queued` is a retry (or a drained host giving the job
    /// back); `waiting → queued` the release when its last parent ended; an ended job goes
    /// back to `queued` (or `waiting`, by a workflow's retry) only through an explicit retry.
    pub fn can_become(self, next: JobState) -> bool {
        use JobState::*;
        matches!(
            (self, next),
            (Waiting, Queued | Cancelled | Skipped)
                | (Queued, Running | Cancelled)
                | (Running, Queued | Succeeded | Failed | TimedOut | Cancelled)
                | (Failed | TimedOut | Cancelled | Skipped, Queued | Waiting)
        )
    }

    /// Whether a cancel changes a job in this state (one of [`JobState::CANCELLABLE`]).
    pub fn can_cancel(self) -> bool {
        JobState::CANCELLABLE.contains(&self)
    }

    /// Whether a retry changes a job in this state (one of [`JobState::RETRYABLE`]): an
    /// ended job that did not succeed. A running job, which could become `queued` by a
    /// retry of its attempt, is not retried by hand, nor a waiting one.
    pub fn can_retry(self) -> bool {
        JobState::RETRYABLE.contains(&self)
    }
}

impl std::str::FromStr for JobState {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        JobState::ALL.into_iter().find(|state| state.as_str() == text).ok_or_else(|| {
            format!(
                "unknown state `{text}` (expected one of: {})",
                JobState::ALL.map(JobState::as_str).join(", ")
            )
        })
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a module is a WASI preview 1 core module or a preview 2 component.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModuleKind {
    /// A core module exporting `_start` (WASI preview 1 command).
    Module,
    /// A component exporting `wasi:cli/run` (WASI preview 2 command).
    Component,
}

impl ModuleKind {
    /// The name used in messages and the API (`module` or `component`).
    pub fn as_str(self) -> &'static str {
        match self {
            ModuleKind::Module => "module",
            ModuleKind::Component => "component",
        }
    }
}

/// A validated, compiled module ready for workers: its content hash and where its compiled
/// artifact for the job's engine settings lies on disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleRef {
    /// Lowercase hex SHA-256 of the `.wasm` bytes.
    pub hash: String,
    /// Core module or component.
    pub kind: ModuleKind,
    /// The precompiled artifact (`.cwasm`) for the engine flavour the job needs.
    pub artifact: PathBuf,
}

/// A host directory made visible to the guest (`--dir HOST[::GUEST][:ro]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirGrant {
    /// Absolute path on the host.
    pub host: PathBuf,
    /// Path the guest opens it by.
    pub guest: String,
    /// Whether the guest may only read.
    pub read_only: bool,
}

impl std::str::FromStr for DirGrant {
    type Err = String;

    /// Parses `HOST`, `HOST::GUEST`, each optionally followed by `:ro` (read-only).
    fn from_str(text: &str) -> Result<Self, String> {
        let (spec, read_only) = match text.strip_suffix(":ro") {
            Some(spec) => (spec, true),
            None => (text, false),
        };
        let (host, guest) = match spec.split_once("::") {
            Some((host, guest)) => (host, guest.to_string()),
            None => (spec, spec.to_string()),
        };
        if host.is_empty() || guest.is_empty() {
            return Err(format!("`{text}` is not HOST[::GUEST][:ro]"));
        }
        let host = std::fs::canonicalize(host)
            .map_err(|e| format!("cannot grant directory `{host}`: {e}"))?;
        if !host.is_dir() {
            return Err(format!("cannot grant `{}`: not a directory", host.display()));
        }
        Ok(DirGrant { host, guest, read_only })
    }
}

/// The limits one job runs under. Each, when hit, ends the job with an outcome naming it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Wall-clock time the job may run; `None` for no limit.
    pub timeout: Option<Duration>,
    /// Most linear memory, in bytes, the guest may grow to.
    pub memory_bytes: u64,
    /// Fuel (roughly, WebAssembly instructions) the guest may burn; `None` for unmetered.
    pub fuel: Option<u64>,
    /// Most bytes of stdout, and separately of stderr, kept; the rest is cut.
    pub output_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: None,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            fuel: None,
            output_bytes: DEFAULT_OUTPUT_BYTES,
        }
    }
}

/// Default per-job memory cap: 512 MiB.
pub const DEFAULT_MEMORY_BYTES: u64 = 512 << 20;
/// Default cap on each of stdout and stderr: 1 MiB.
pub const DEFAULT_OUTPUT_BYTES: u64 = 1 << 20;

/// Everything a worker needs to run one job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The job's id (visible to the guest as `WASMPOOL_JOB_ID` when `job_env` is set).
    pub id: String,
    /// The compiled module to run.
    pub module: ModuleRef,
    /// Arguments including `argv[0]` (the program name).
    pub args: Vec<String>,
    /// Environment variables, in order.
    pub env: Vec<(String, String)>,
    /// Bytes the guest reads from stdin.
    pub stdin: Vec<u8>,
    /// Directories granted to the guest.
    pub dirs: Vec<DirGrant>,
    /// Time, memory, fuel and output limits.
    pub limits: Limits,
    /// Which attempt this is, from 1 (the guest reads it through `wasmpool:task/job`).
    pub attempt: u32,
    /// Whether the guest's environment also holds `WASMPOOL_JOB_ID` and
    /// `WASMPOOL_WORKER_PID`; otherwise it is exactly `env`.
    pub job_env: bool,
    /// Call this exported function instead of running the module as a command.
    pub call: Option<Call>,
}

/// A call a job makes instead of running its module as a command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    /// The function: `name`, or `ns:pkg/iface#name` for an interface's.
    pub function: String,
    /// Its parameters: a JSON array, checked against the function's type at submission.
    pub params: String,
}

/// A request a running guest makes of its host through the `wasmpool:task` interfaces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskCall {
    /// `queue.put`.
    Put {
        /// Queue name.
        queue: String,
        /// The item.
        item: Vec<u8>,
    },
    /// `queue.get`.
    Get {
        /// Queue name.
        queue: String,
        /// Longest wait, in milliseconds.
        timeout_ms: u32,
    },
    /// `queue.len`.
    Len {
        /// Queue name.
        queue: String,
    },
    /// `progress.report`.
    Progress {
        /// Percent done, 0 to 100.
        percent: u8,
        /// A short message.
        message: String,
    },
    /// `workflow.parents`.
    Parents,
    /// `workflow.spawn`: a job to submit when the attempt succeeds (a `POST /v1/jobs` body).
    Spawn {
        /// The job's JSON.
        job: String,
    },
}

/// A parent's result, as a running child reads it (`workflow.parents`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentResult {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: Option<String>,
    /// How it ended (`succeeded`, `failed`, ...).
    pub state: String,
    /// A command's exit code.
    pub exit_code: Option<i32>,
    /// A command's captured stdout.
    pub stdout: Vec<u8>,
    /// A call's result (JSON).
    pub result: Option<String>,
}

/// The host's answer to a [`TaskCall`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskReply {
    /// To `Put`.
    Put(Result<(), PutError>),
    /// To `Get`: the item, if one came in time.
    Get(Option<Vec<u8>>),
    /// To `Len`.
    Len(u64),
    /// To `Progress`.
    Noted,
    /// To `Parents`.
    Parents(Vec<ParentResult>),
    /// To `Spawn`: the job's handle, or why it was refused.
    Spawned(Result<String, String>),
}

/// Why a put failed (the WIT `put-error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PutError {
    /// The queue stayed full for the put timeout.
    Full,
    /// The item is larger than the limit.
    TooLarge,
    /// The queue name is invalid.
    BadName,
    /// The host cannot take it now.
    Unavailable,
}

/// Which of a guest's output streams some bytes were written to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// How a job ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The guest exited with this code (preview 1: `proc_exit(n)`; preview 2: 0 or 1).
    Exited(i32),
    /// The guest trapped; the message is wasmtime's.
    Trapped(String),
    /// The job ran past its timeout.
    TimedOut(Duration),
    /// The guest tried to grow its memory beyond the cap (bytes).
    MemoryLimit(u64),
    /// The guest burnt all its fuel.
    FuelExhausted(u64),
    /// The module could not be loaded or instantiated.
    LoadFailed(String),
    /// The worker process died while running the job.
    WorkerDied(String),
    /// The host could not start the job (it asks for something this host lacks, such as a
    /// mount).
    Unrunnable(String),
    /// The job was cancelled.
    Cancelled,
    /// A call returned (its value is [`JobResult::returned`]).
    Returned,
    /// A call returned an `err` result: the message is the error value as JSON.
    ReturnedErr(String),
}

impl Outcome {
    /// Whether the job succeeded (exited 0).
    pub fn succeeded(&self) -> bool {
        matches!(self, Outcome::Exited(0) | Outcome::Returned)
    }

    /// The job state this outcome ends in: `succeeded`, `failed`, `timed_out` or `cancelled`.
    pub fn state(&self) -> JobState {
        match self {
            Outcome::Exited(0) | Outcome::Returned => JobState::Succeeded,
            Outcome::TimedOut(_) => JobState::TimedOut,
            Outcome::Cancelled => JobState::Cancelled,
            _ => JobState::Failed,
        }
    }

    /// Whether attempt `attempt` of `max_attempts`, ended so, is tried again: it did not
    /// succeed, nobody cancelled it, and attempts remain.
    pub fn retries(&self, attempt: u32, max_attempts: u32) -> bool {
        !self.succeeded() && *self != Outcome::Cancelled && attempt < max_attempts
    }

    /// The state a job is in once attempt `attempt` of `max_attempts` ended so: `queued`
    /// again when it is retried, else the outcome's own state.
    pub fn next_state(&self, attempt: u32, max_attempts: u32) -> JobState {
        if self.retries(attempt, max_attempts) { JobState::Queued } else { self.state() }
    }

    /// A one-line description, e.g. `exited with code 3` or `timed out after 1s`.
    pub fn describe(&self) -> String {
        use crate::units::{format_duration, format_size};
        match self {
            Outcome::Exited(code) => format!("exited with code {code}"),
            Outcome::Trapped(message) => format!("trapped: {message}"),
            Outcome::TimedOut(limit) => format!("timed out after {}", format_duration(*limit)),
            Outcome::MemoryLimit(limit) => {
                format!("memory limit of {} exceeded", format_size(*limit))
            }
            Outcome::FuelExhausted(fuel) => format!("fuel limit of {fuel} exhausted"),
            Outcome::LoadFailed(message) => format!("could not load module: {message}"),
            Outcome::WorkerDied(cause) => format!("worker died: {cause}"),
            Outcome::Unrunnable(why) => format!("cannot run: {why}"),
            Outcome::Cancelled => "cancelled".to_string(),
            Outcome::Returned => "returned".to_string(),
            Outcome::ReturnedErr(error) => format!("returned err: {error}"),
        }
    }
}

/// What a job produced. The worker fills everything but the timestamps and pid, which the
/// supervisor records from its own clock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobResult {
    /// The job's id.
    pub id: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Captured stdout, at most `Limits::output_bytes`.
    pub stdout: Vec<u8>,
    /// Captured stderr, at most `Limits::output_bytes`.
    pub stderr: Vec<u8>,
    /// Whether stdout was cut at the cap.
    pub stdout_truncated: bool,
    /// Whether stderr was cut at the cap.
    pub stderr_truncated: bool,
    /// Fuel burnt, when the job was metered.
    pub fuel_used: Option<u64>,
    /// The largest linear memory the guest reached, in bytes.
    pub peak_memory_bytes: u64,
    /// Time inside the worker from receiving the job to its end.
    pub run_time: Duration,
    /// What a call returned, as JSON text (`None` for a command).
    pub returned: Option<String>,
}

impl JobResult {
    /// A result with no output, for outcomes decided outside the sandbox.
    pub fn without_output(id: String, outcome: Outcome) -> Self {
        JobResult {
            id,
            outcome,
            stdout: Vec::new(),
            stderr: Vec::new(),
            stdout_truncated: false,
            stderr_truncated: false,
            fuel_used: None,
            peak_memory_bytes: 0,
            run_time: Duration::ZERO,
            returned: None,
        }
    }
}

/// A finished job as the supervisor saw it: the result plus where and when it ran.
#[derive(Clone, Debug)]
pub struct Completed {
    /// What the job produced.
    pub result: JobResult,
    /// Pid of the worker process that ran it (0 if it never reached one).
    pub worker_pid: u32,
    /// When the job was handed to its worker.
    pub started_at: SystemTime,
    /// When its result came back (or the worker was found dead).
    pub finished_at: SystemTime,
}

#[cfg(test)]
mod tests;
