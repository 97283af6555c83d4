//! The pool's, the cluster's, the queues' and the stats' JSON shapes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::*;

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
    #[serde(
        default,
        deserialize_with = "integral::present",
        skip_serializing_if = "Option::is_none"
    )]
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
