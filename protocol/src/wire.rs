//! The JSON shapes of the HTTP API, shared by the server (`api`) and the client verbs
//! (`client`). Changing a field here changes the public API: update the README with it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A job's lifecycle: `queued → running → succeeded | failed | timed_out | cancelled`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
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
}

impl JobState {
    /// Every state, in lifecycle order.
    pub const ALL: [JobState; 6] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::TimedOut,
        JobState::Cancelled,
    ];

    /// The state's name as it appears in JSON and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::TimedOut => "timed_out",
            JobState::Cancelled => "cancelled",
        }
    }

    /// The states a cancel changes: queued first, then running.
    pub const CANCELLABLE: [JobState; 2] = [JobState::Queued, JobState::Running];

    /// The states a retry changes.
    pub const RETRYABLE: [JobState; 3] =
        [JobState::Failed, JobState::TimedOut, JobState::Cancelled];

    /// The states a delete removes: every ended one.
    pub const DELETABLE: [JobState; 4] =
        [JobState::Succeeded, JobState::Failed, JobState::TimedOut, JobState::Cancelled];

    /// Whether the job has ended.
    pub fn is_terminal(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }

    /// The legal transitions. `running → queued` is a retry (or a drained host giving the job
    /// back); an ended job goes back to `queued` only through an explicit retry.
    pub fn can_become(self, next: JobState) -> bool {
        use JobState::*;
        matches!(
            (self, next),
            (Queued, Running | Cancelled)
                | (Running, Queued | Succeeded | Failed | TimedOut | Cancelled)
                | (Failed | TimedOut | Cancelled, Queued)
        )
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

/// An uploaded module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ModuleView {
    /// Lowercase hex SHA-256 of the `.wasm` bytes: the module's identity.
    pub hash: String,
    /// The name given with this upload, if any.
    pub name: Option<String>,
    /// Every name that currently points at this module.
    pub names: Vec<String>,
    /// Size of the `.wasm` in bytes.
    pub size: u64,
    /// `module` (WASI preview 1) or `component` (WASI preview 2).
    pub kind: String,
    /// When it was first uploaded (RFC 3339).
    pub created_at: String,
    /// At most this many of its jobs run at once across the cluster (`null`: no cap).
    #[serde(default)]
    pub max_running: Option<u32>,
}

/// A job submission. Every field but `module` is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// The module's hash or name.
    pub module: String,
    /// Arguments after the program name.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables: names non-empty, without `=` or NUL.
    #[serde(default)]
    #[schema(schema_with = env_schema)]
    pub env: BTreeMap<String, String>,
    /// Standard input as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// Standard input as base64 (for binary input); not together with `stdin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin_base64: Option<String>,
    /// A label for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Higher runs first; FIFO within a priority. Default 0, range -1000..=1000.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "integral::option"
    )]
    pub priority: Option<i32>,
    /// Wall-clock limit in milliseconds (default and maximum set by the service).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "integral::option"
    )]
    pub timeout_ms: Option<u64>,
    /// Memory limit in MiB (default and maximum set by the service).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "integral::option"
    )]
    pub memory_mb: Option<u64>,
    /// Fuel limit; unmetered when absent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "integral::option"
    )]
    pub fuel: Option<u64>,
    /// Attempts in all, counting the first (default 1: no retry).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "integral::option"
    )]
    pub max_attempts: Option<u32>,
    /// Do not start before this many milliseconds have passed.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "integral::option"
    )]
    pub delay_ms: Option<u64>,
    /// The program name the guest sees as argv[0] (default: the module's short hash and
    /// `.wasm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv0: Option<String>,
    /// Also give the guest `WASMPOOL_JOB_ID` and `WASMPOOL_WORKER_PID` in its environment
    /// (default false: it sees exactly `env`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub job_env: bool,
    /// The lane whose workers run it (default `default`): 1 to 64 letters, digits, `_`, `.`
    /// or `-`, starting with a letter or digit, served by some live host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    pub lane: Option<String>,
}

/// A batch submission: all jobs are accepted, or none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// The jobs, in order (at least one).
    #[schema(min_items = 1)]
    pub jobs: Vec<JobRequest>,
}

/// The answer to a submission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    /// The job's id.
    pub id: i64,
    /// Its state (`queued`, or later if an idempotent retry found it further along).
    pub state: JobState,
}

/// The answer to a batch submission, in the order submitted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchAccepted {
    /// One entry per submitted job.
    pub jobs: Vec<Accepted>,
}

/// Everything about a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    /// The job's id.
    pub id: i64,
    /// Its label, if given.
    pub name: Option<String>,
    /// The module's hash.
    pub module: String,
    /// The module name the job was submitted by (`null` when by hash).
    #[serde(default)]
    pub module_name: Option<String>,
    /// The program name the guest sees as argv[0] (`null`: the module's short hash and
    /// `.wasm`).
    #[serde(default)]
    pub argv0: Option<String>,
    /// Arguments after the program name.
    pub args: Vec<String>,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// Whether the guest also gets `WASMPOOL_JOB_ID` and `WASMPOOL_WORKER_PID`.
    #[serde(default)]
    pub job_env: bool,
    /// Priority (higher first).
    pub priority: i32,
    /// Where it is in its lifecycle.
    pub state: JobState,
    /// Attempts started so far.
    pub attempts: u32,
    /// Attempts allowed in all.
    pub max_attempts: u32,
    /// Wall-clock limit in milliseconds.
    pub timeout_ms: u64,
    /// Memory limit in MiB.
    pub memory_mb: u64,
    /// Fuel limit, if metered.
    pub fuel: Option<u64>,
    /// When it was accepted (RFC 3339).
    pub submitted_at: String,
    /// When its latest attempt started.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
    /// Pid of the worker process that ran (or runs) its latest attempt.
    pub worker_pid: Option<u32>,
    /// Exit code, when the guest exited.
    pub exit_code: Option<i32>,
    /// Standard output as text, when it is valid UTF-8.
    pub stdout: Option<String>,
    /// Standard output as base64, when it is not valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout_base64: Option<String>,
    /// Standard error as text, when it is valid UTF-8.
    pub stderr: Option<String>,
    /// Standard error as base64, when it is not valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr_base64: Option<String>,
    /// Whether stdout was cut at the output cap.
    pub stdout_truncated: bool,
    /// Whether stderr was cut at the output cap.
    pub stderr_truncated: bool,
    /// Why it did not succeed (trap message, limit hit, worker death...).
    pub error: Option<String>,
    /// Fuel burnt, when metered.
    pub fuel_used: Option<u64>,
    /// Largest linear memory the guest reached, in bytes.
    pub peak_memory_bytes: Option<u64>,
    /// The latest progress the job reported through `wasmpool:task/progress`.
    #[serde(default)]
    pub progress: Option<ProgressView>,
    /// The host of the current or last attempt (`null` before any).
    #[serde(default)]
    pub node: Option<String>,
    /// The schedule that made the job (`null` when it was submitted).
    #[serde(default)]
    pub schedule: Option<String>,
    /// The tick of that schedule the job was made for (RFC 3339; `null` when submitted).
    #[serde(default)]
    pub scheduled_for: Option<String>,
    /// When a queued job that is not due yet (its delay or retry backoff) becomes due
    /// (RFC 3339); `null` once it is due, and for a job that is not queued.
    #[serde(default)]
    pub run_at: Option<String>,
    /// The lane whose workers run it.
    #[serde(default = "default_lane")]
    pub lane: String,
    /// Every ended attempt, oldest first (the current attempt's result is also in the
    /// fields above).
    #[serde(default)]
    pub attempts_history: Vec<AttemptView>,
}

fn default_lane() -> String {
    crate::validate::DEFAULT_LANE.to_string()
}

/// At most this many characters of a job's error in a listing ([`JobSummary::error`]).
pub const SUMMARY_ERROR_CHARS: usize = 300;

/// At most this many characters of a job's arguments in a listing
/// ([`JobSummary::args_preview`]).
pub const SUMMARY_ARGS_CHARS: usize = 200;

/// A job as a listing shows it: its state, times and sizes, never its input or output, so a
/// page's size is bounded however much the listed jobs wrote. The whole job is at
/// `GET /v1/jobs/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobSummary {
    /// The job's id.
    pub id: i64,
    /// Its label, if given.
    pub name: Option<String>,
    /// The module's hash.
    pub module: String,
    /// The module name the job was submitted by (`null` when by hash).
    #[serde(default)]
    pub module_name: Option<String>,
    /// The arguments after the program name, separated by spaces, cut at 200 characters
    /// (ending in `…` when cut).
    pub args_preview: String,
    /// Priority (higher first).
    pub priority: i32,
    /// Where it is in its lifecycle.
    pub state: JobState,
    /// Attempts started so far.
    pub attempts: u32,
    /// Attempts allowed in all.
    pub max_attempts: u32,
    /// Wall-clock limit in milliseconds.
    pub timeout_ms: u64,
    /// When it was accepted (RFC 3339).
    pub submitted_at: String,
    /// When a queued job falls due (RFC 3339), while that is still to come; else `null`.
    #[serde(default)]
    pub run_at: Option<String>,
    /// When its latest attempt started.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
    /// Pid of the worker process that ran (or runs) its latest attempt.
    pub worker_pid: Option<u32>,
    /// Exit code, when the guest exited.
    pub exit_code: Option<i32>,
    /// Bytes of standard output kept.
    pub stdout_bytes: u64,
    /// Bytes of standard error kept.
    pub stderr_bytes: u64,
    /// Whether stdout was cut at the output cap.
    pub stdout_truncated: bool,
    /// Whether stderr was cut at the output cap.
    pub stderr_truncated: bool,
    /// Why it did not succeed, cut at 300 characters (ending in `…` when cut).
    pub error: Option<String>,
    /// The latest progress the job reported.
    #[serde(default)]
    pub progress: Option<ProgressView>,
    /// The host of the current or last attempt (`null` before any).
    #[serde(default)]
    pub node: Option<String>,
    /// The schedule that made the job (`null` when it was submitted).
    #[serde(default)]
    pub schedule: Option<String>,
    /// The tick of that schedule the job was made for (RFC 3339).
    #[serde(default)]
    pub scheduled_for: Option<String>,
    /// The lane whose workers run it.
    #[serde(default = "default_lane")]
    pub lane: String,
}

/// `text` cut to at most `chars` characters, the last of them `…` when cut.
pub fn preview(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars.saturating_sub(1)) {
        Some((end, _)) if text[end..].chars().nth(1).is_some() => format!("{}…", &text[..end]),
        _ => text.to_string(),
    }
}

/// One ended attempt of a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AttemptView {
    /// Its number, 1 for the first.
    pub attempt: u32,
    /// The host that ran it.
    pub node: Option<String>,
    /// The worker process that ran it.
    pub worker_pid: Option<u32>,
    /// When it started on its worker (RFC 3339).
    pub started_at: String,
    /// When it ended (RFC 3339).
    pub finished_at: String,
    /// How it ended: `succeeded`, `failed`, `timed_out` or `cancelled` (also when the job
    /// was queued again for another attempt).
    pub state: JobState,
    /// The guest's exit code, when it exited.
    pub exit_code: Option<i32>,
    /// Why it did not succeed.
    pub error: Option<String>,
}

/// Which jobs a bulk action (`POST /v1/jobs/retry`, `POST /v1/jobs/cancel`) acts on: the
/// list's filters, combined with AND. At least one must be given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobSelector {
    /// Only jobs in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<JobState>,
    /// Only jobs of this module (hash or name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// Only jobs of this lane.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lane: Option<String>,
    /// Only jobs whose current or last attempt ran on this host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Only jobs made by this schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Only jobs whose name contains this (case-sensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only the job with this id (when all digits) or jobs whose name contains this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Only jobs submitted at or after this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_after: Option<String>,
    /// Only jobs submitted before this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_before: Option<String>,
    /// Count, change nothing: the answer says how many jobs the filter selects (`matched`)
    /// and how many the action would change (`changed`; `deleted` for a delete).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// What a bulk delete (`POST /v1/jobs/delete`) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeleteResult {
    /// Jobs the filter selected.
    pub matched: u64,
    /// Of those, the jobs deleted (the ended ones; queued and running jobs are left alone).
    pub deleted: u64,
}

/// What a bulk action did (or, for a dry run, would do).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BulkResult {
    /// Jobs the filter selected.
    pub matched: u64,
    /// Of those, the jobs retried or cancelled (the others were in states the action does
    /// not apply to).
    pub changed: u64,
}

/// A job's progress report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProgressView {
    /// Percent done, 0 to 100.
    pub percent: u8,
    /// What the job said.
    pub message: String,
}

/// A schedule to create: a job request submitted at every tick of a cron expression.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// Its name: 1–64 of `A-Z a-z 0-9 _ . -`, starting with a letter or digit.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    pub name: String,
    /// Five fields (`*/5 * * * *`), or six with seconds first (`*/10 * * * * *`); at most
    /// 1024 bytes.
    #[schema(example = "*/5 * * * *", max_length = 1024)]
    pub cron: String,
    /// The IANA time zone the expression is read in (default `UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The job each tick submits, checked as a submission is (its lane must be served); at
    /// most 8 KiB as JSON.
    pub job: JobRequest,
    /// Whether it makes jobs (default true; false creates it paused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Whether a host starting after ticks were missed (no host ran) makes a job for the most
    /// recent of them (default false: missed ticks are skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_up: Option<bool>,
}

/// Changes to a schedule: any of the fields, at least one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchedulePatch {
    /// A new cron expression (ticks before now are not made); at most 1024 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 1024)]
    pub cron: Option<String>,
    /// A new time zone (ticks before now are not made).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// A new job request (at most 8 KiB as JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobRequest>,
    /// false pauses it, true resumes it (ticks while paused are not made).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Whether missed ticks are caught up (the most recent one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_up: Option<bool>,
}

/// A schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScheduleView {
    /// Its name.
    pub name: String,
    /// Its cron expression.
    pub cron: String,
    /// The time zone the expression is read in.
    pub timezone: String,
    /// The job each tick submits.
    pub job: JobRequest,
    /// Whether it makes jobs (false: paused).
    pub enabled: bool,
    /// Whether the most recent missed tick is made when a host starts.
    pub catch_up: bool,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When its latest tick was handled (`null` before any).
    pub last_run_at: Option<String>,
    /// The job its latest tick made (`null` before any, or when that tick failed).
    pub last_job_id: Option<i64>,
    /// Why its latest tick made no job (its module was deleted, its lane is served by no
    /// live host, …).
    #[serde(default)]
    pub last_error: Option<String>,
    /// Ticks never made because the hosts could not keep up (too many schedules, or a
    /// stalled host): each is also counted by `wasmpool_schedule_ticks_skipped_total`.
    #[serde(default)]
    pub ticks_skipped: u64,
    /// Its next tick (`null` while paused).
    pub next_run_at: Option<String>,
}

/// Every schedule, by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScheduleList {
    /// The schedules.
    pub schedules: Vec<ScheduleView>,
}

/// A named queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QueueView {
    /// Its name.
    pub name: String,
    /// Items in it.
    pub length: u64,
    /// How long its oldest item has waited, in milliseconds (in `GET /v1/queues`; null in a
    /// put's answer).
    #[serde(default)]
    pub oldest_age_ms: Option<u64>,
}

/// `GET /v1/queues/{name}/items`: a queue's oldest items, looked at without taking them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QueueItems {
    /// The queue.
    pub name: String,
    /// Items in it, all told.
    pub length: u64,
    /// Its oldest items (the next to be taken first), at most `limit`.
    pub items: Vec<QueueItemView>,
}

/// One item of a queue, cut to a preview.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QueueItemView {
    /// Its id (items are taken in id order).
    pub id: i64,
    /// Its size in bytes.
    pub size: u64,
    /// Its first bytes (up to 256) as text, invalid UTF-8 replaced by U+FFFD.
    pub preview: String,
    /// Whether the item is longer than its preview.
    pub truncated: bool,
    /// How long it has waited, in milliseconds.
    pub age_ms: u64,
}

/// `DELETE /v1/queues/{name}`: what emptying a queue removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QueuePurged {
    /// The queue.
    pub name: String,
    /// Items removed.
    pub removed: u64,
}

/// `GET /v1/stats/modules`: every stored module with what the store holds of its runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModuleStatsList {
    /// The modules, newest upload first.
    pub modules: Vec<ModuleStatsView>,
}

/// One module's runs: jobs that ended `succeeded`, `failed` or `timed_out` (cancelled jobs
/// are not the module's doing and are left out), among the jobs the store still holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModuleStatsView {
    /// The module's hash.
    pub hash: String,
    /// Its first name, if it has one.
    pub name: Option<String>,
    /// Its runs.
    pub runs: u64,
    /// Runs that succeeded.
    pub succeeded: u64,
    /// Runs that failed or timed out.
    pub failed: u64,
    /// `succeeded / runs`, 0 to 1; null without runs.
    pub success_rate: Option<f64>,
    /// Median run time in milliseconds (nearest rank, over the runs that reached a worker).
    pub p50_ms: Option<u64>,
    /// 95th percentile run time in milliseconds (nearest rank).
    pub p95_ms: Option<u64>,
    /// Its latest failed or timed-out job.
    pub last_failure: Option<LastFailureView>,
    /// How many of its jobs may run at once in the cluster; null: no cap.
    pub max_running: Option<u32>,
}

/// A module's latest failure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LastFailureView {
    /// The job.
    pub job_id: i64,
    /// Why it failed.
    pub error: Option<String>,
    /// When it ended (RFC 3339).
    pub finished_at: String,
}

/// `GET /v1/stats/history`: jobs ended per time bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HistoryView {
    /// `1h` (60 buckets of a minute) or `1d` (96 buckets of 15 minutes).
    pub window: String,
    /// The width of a bucket.
    pub bucket_seconds: u64,
    /// Oldest first; the last one holds now (so it is still filling). Empty ones included.
    pub buckets: Vec<HistoryBucket>,
}

/// Jobs that ended within one bucket, by their `finished_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HistoryBucket {
    /// Where the bucket starts (RFC 3339), a whole multiple of its width since the epoch.
    pub start: String,
    /// Jobs that ended `succeeded`.
    pub succeeded: u64,
    /// Jobs that ended `failed` or `timed_out`.
    pub failed: u64,
}

/// One page of jobs, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobPage {
    /// The jobs, as summaries (the whole of one is at `GET /v1/jobs/{id}`).
    pub jobs: Vec<JobSummary>,
    /// Pass as `cursor` to get the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// One worker process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkerView {
    /// Slot number, 0..capacity.
    pub slot: usize,
    /// Process id (0 while it starts).
    pub pid: u32,
    /// `starting`, `idle` or `busy`.
    pub state: String,
    /// The job it runs, when busy.
    pub job_id: Option<i64>,
    /// Since when it runs that job (RFC 3339).
    pub since: Option<String>,
    /// The job's label, when busy and the job has one.
    #[serde(default)]
    pub job_name: Option<String>,
    /// The job's module hash, when busy.
    #[serde(default)]
    pub module: Option<String>,
    /// A name of the job's module, when busy and the module has one.
    #[serde(default)]
    pub module_name: Option<String>,
    /// The job's timeout in milliseconds, when busy.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// The job's latest progress report, when busy and it made one.
    #[serde(default)]
    pub progress: Option<ProgressView>,
    /// The host the worker belongs to.
    #[serde(default)]
    pub node: Option<String>,
    /// The lane whose jobs it runs.
    #[serde(default = "default_lane")]
    pub lane: String,
}

/// A lane at a glance (`GET /v1/pool`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LaneView {
    /// Its name.
    pub name: String,
    /// Worker processes serving it, on every live host.
    pub workers: u64,
    /// Those running a job.
    pub busy: u64,
    /// Its jobs waiting, in the whole store.
    pub queued: u64,
    /// Its jobs claimed or running, in the whole store.
    pub running: u64,
}

/// A change to a module (`PATCH /v1/modules/{id}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModulePatch {
    /// At most this many of its jobs run at once across the cluster, 1 or more; `null`
    /// clears the cap. Left out: unchanged.
    #[serde(default, deserialize_with = "patch::present", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u32>, minimum = 1)]
    pub max_running: Option<Option<u32>>,
}

/// The pool at a glance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PoolView {
    /// Number of worker processes.
    pub capacity: usize,
    /// Whether handing out queued jobs is paused.
    pub paused: bool,
    /// Whether the service is shutting down (new submissions get 503).
    pub draining: bool,
    /// Every worker.
    pub workers: Vec<WorkerView>,
    /// Jobs per state.
    pub counts: BTreeMap<String, u64>,
    /// Worker processes replaced since the service started.
    pub restarts: u64,
    /// Job attempts that ended in each of the last 120 seconds, oldest first.
    #[serde(default)]
    pub throughput: Vec<u64>,
    /// Every lane some live host serves or some queued or running job names, by name.
    #[serde(default)]
    pub lanes: Vec<LaneView>,
}

/// A host of the cluster (`GET /v1/nodes`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NodeView {
    /// Its name (`--node`).
    pub name: String,
    /// Where its API listens, or what it advertises (`serve --advertise`).
    pub address: String,
    /// Its wasmpool version.
    pub version: String,
    /// Its worker processes.
    pub workers: u64,
    /// Those running a job (at its last heartbeat; 0 once it is lost or left).
    pub busy: u64,
    /// When it joined (RFC 3339).
    pub started_at: String,
    /// Its last heartbeat (RFC 3339).
    pub heartbeat_at: String,
    /// `alive`, `draining` (stopping: it takes no new jobs and finishes its running ones),
    /// `lost` (silent past its lease: its jobs were given to others) or `left` (it stopped
    /// cleanly).
    pub state: String,
}

/// A job's state changed (in the `jobs` event of `GET /v1/events`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobEventView {
    /// The job.
    pub id: i64,
    /// Its new state.
    pub state: JobState,
}

/// The body of every error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// An error's machine-readable code and human-readable message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable code, e.g. `not_found`, `bad_request`, `unauthorized`, `conflict`,
    /// `payload_too_large`, `unavailable`, `internal`.
    pub code: String,
    /// A sentence for people.
    pub message: String,
}

/// `env`'s schema: a map whose names a WASI environment can hold.
fn env_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let string = || ObjectBuilder::new().schema_type(Type::String);
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(string().min_length(Some(1)).pattern(Some("^[^=\\x00]+$"))))
        .additional_properties(Some(string().pattern(Some("^[^\\x00]*$"))))
        .build()
}

/// A field that tells "given as `null`" (`Some(None)`) from "left out" (`None`).
mod patch {
    use serde::{Deserialize, Deserializer};

    /// Any value that is present, `null` included, becomes `Some`.
    pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

/// Integer fields that also take a JSON number with a zero fraction (`681.0`): JSON Schema's
/// `integer` includes them, and some JSON writers (Python's for a float) produce them.
mod integral {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::{self, Deserializer, Visitor};

    /// Deserializes an optional integer of type `T`, accepting integral floats in range.
    pub fn option<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<i64> + TryFrom<u64>,
    {
        deserializer.deserialize_option(OptionVisitor(PhantomData))
    }

    struct OptionVisitor<T>(PhantomData<T>);

    impl<'de, T: TryFrom<i64> + TryFrom<u64>> Visitor<'de> for OptionVisitor<T> {
        type Value = Option<T>;

        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str("an integer in range")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_any(IntegerVisitor(PhantomData)).map(Some)
        }
    }

    struct IntegerVisitor<T>(PhantomData<T>);

    impl<'de, T: TryFrom<i64> + TryFrom<u64>> Visitor<'de> for IntegerVisitor<T> {
        type Value = T;

        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str("an integer in the field's range")
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
            T::try_from(value).map_err(|_| E::invalid_value(de::Unexpected::Signed(value), &self))
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
            T::try_from(value).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(value), &self))
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<T, E> {
            // Beyond 2^53 a float no longer names one integer: refuse rather than round.
            const EXACT: f64 = 9_007_199_254_740_992.0;
            if value.fract() != 0.0 || !(-EXACT..=EXACT).contains(&value) {
                return Err(E::invalid_type(de::Unexpected::Float(value), &self));
            }
            self.visit_i64(value as i64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::preview;

    #[test]
    fn previews_cut_at_a_character_count_with_an_ellipsis() {
        assert_eq!(preview("abc", 3), "abc");
        assert_eq!(preview("abcd", 3), "ab…");
        assert_eq!(preview("", 3), "");
        // Characters, not bytes: a cut never splits one.
        assert_eq!(preview("ééééé", 4), "ééé…");
        assert_eq!(preview("éé", 2), "éé");
    }
}
