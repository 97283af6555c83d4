//! The values the store takes and hands out (beyond the rows of `rows.rs`): attempts and
//! their ends, claims, the answers of cancels, retries and bulk actions, filters, and what
//! hosts of a cluster tell each other.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::{JobId, JobRecord, JobState};

/// Which attempt of a job a write comes from: the attempt number and the node incarnation
/// that claimed it. A write from any other attempt (a stale host's, a rescued job's) changes
/// nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Attempt {
    /// The job.
    pub id: JobId,
    /// Its attempt number.
    pub number: u32,
    /// The node incarnation that claimed it (0 on SQLite, which has one host).
    pub node_id: i64,
}

/// A running attempt of this host, as the job's own calls name it (a queue put or get, a
/// progress report): the call counts only while that attempt is the job's current one here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Running {
    /// The job.
    pub id: JobId,
    /// Its attempt number.
    pub attempt: u32,
}

impl JobRecord {
    /// The fencing token of the job's current attempt.
    pub fn attempt(&self) -> Attempt {
        Attempt { id: self.id, number: self.attempts, node_id: self.node_id.unwrap_or(0) }
    }
}

/// How one attempt ended, to be recorded.
#[derive(Clone, Debug)]
pub struct Finished {
    /// The attempt that ended (its fencing token, with the job's id).
    pub attempt: Attempt,
    /// `Some(time)` to queue the job again for another attempt not before `time`;
    /// `None` to end it in `state`.
    pub retry_at: Option<SystemTime>,
    /// The terminal state (ignored when retrying).
    pub state: JobState,
    /// The worker that ran the attempt.
    pub worker_pid: Option<u32>,
    /// When the attempt started on its worker.
    pub started_at: SystemTime,
    /// When the attempt ended.
    pub finished_at: SystemTime,
    /// The exit code, when the guest exited.
    pub exit_code: Option<i32>,
    /// Captured stdout.
    pub stdout: Vec<u8>,
    /// Captured stderr.
    pub stderr: Vec<u8>,
    /// Whether stdout was cut.
    pub stdout_truncated: bool,
    /// Whether stderr was cut.
    pub stderr_truncated: bool,
    /// Why it did not succeed.
    pub error: Option<String>,
    /// Fuel burnt.
    pub fuel_used: Option<u64>,
    /// Peak linear memory.
    pub peak_memory_bytes: u64,
    /// What a call returned (JSON); `None` for a command.
    pub result: Option<String>,
    /// Jobs the attempt spawned (`wasmpool:task/workflow.spawn`): written with its result,
    /// in its transaction, when it succeeded; dropped otherwise.
    pub spawned: Option<Box<Spawned>>,
}

/// Jobs an attempt spawned, checked when it asked: a batch whose `after` names jobs of the
/// batch (`Parent::Batch`) or the spawner (`Parent::Job`).
#[derive(Clone, Debug)]
pub struct Spawned {
    /// The jobs, in the order they were spawned.
    pub jobs: Vec<super::NewJob>,
    /// The service's workflow maximums, checked against the workflow they join.
    pub limits: wasmpool_protocol::workflow::WorkflowLimits,
}

/// Jobs moved to running by [`super::Store::finish_and_claim`].
#[derive(Debug, Default)]
pub struct Claimed {
    /// The jobs, highest priority then oldest first.
    pub jobs: Vec<JobRecord>,
    /// How many times a job had become queued when the claim ran: every job queued by then
    /// was visible to it, so when it comes back short, nothing more is claimable until
    /// [`super::Store::queued`] passes this count (or a delayed job falls due).
    pub seen: u64,
    /// When a rate limit a job was passed over for has a token again: claim then.
    pub wake_at: Option<std::time::SystemTime>,
    /// Jobs claimed ahead of their rate limits' tokens, with the time each may start: hold
    /// them until then (see `store/buckets.rs`).
    pub starts: Vec<(JobId, std::time::SystemTime)>,
}

impl Claimed {
    /// The claim of `jobs`, with the rate limits' `pacing` (µs) in times.
    pub fn paced(jobs: Vec<JobRecord>, seen: u64, pacing: super::buckets::Pacing) -> Claimed {
        let time = super::rows::time;
        Claimed {
            jobs,
            seen,
            wake_at: pacing.wake_at.map(time),
            starts: pacing.starts.into_iter().map(|(id, at)| (id, time(at))).collect(),
        }
    }
}

/// What a cancel request found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cancel {
    /// No such job.
    NotFound,
    /// It was queued or running (given) and is now cancelled.
    Cancelled(JobState),
    /// It had already ended in this state.
    AlreadyEnded(JobState),
}

/// What a retry or delete request found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// No such job.
    NotFound,
    /// Done.
    Done,
    /// Not allowed in the job's current state.
    Refused(JobState),
    /// Not allowed while this job (a child that has not ended) runs after it.
    WaitedOn(JobId),
}

/// Which jobs to list, or to act on in bulk: every field present narrows the selection
/// (conditions combine with AND); `limit` applies to listing only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only jobs in this state.
    pub state: Option<JobState>,
    /// Only jobs of this module.
    pub module_hash: Option<String>,
    /// Only jobs of this lane.
    pub lane: Option<String>,
    /// Only jobs whose current or last attempt ran on this host.
    pub node: Option<String>,
    /// Only jobs made by this schedule.
    pub schedule: Option<String>,
    /// Only jobs of this workflow.
    pub workflow: Option<i64>,
    /// Only jobs whose name contains this (exactly, case and all).
    pub name: Option<String>,
    /// Only jobs whose name contains this, or, when it is all digits, whose id it is.
    pub search: Option<String>,
    /// Only jobs submitted at or after this.
    pub submitted_after: Option<SystemTime>,
    /// Only jobs submitted before this.
    pub submitted_before: Option<SystemTime>,
    /// Only jobs older than this id (the page cursor).
    pub before: Option<JobId>,
    /// At most this many (listing).
    pub limit: u32,
    /// Only this tenant's jobs (`None`: every tenant's, for the service's own work).
    pub tenant: Option<String>,
}

impl JobFilter {
    /// Whether nothing narrows the selection (every job would match).
    pub fn selects_everything(&self) -> bool {
        let JobFilter {
            state,
            module_hash,
            lane,
            node,
            schedule,
            workflow,
            name,
            search,
            submitted_after,
            submitted_before,
            before,
            limit: _,
            // A tenant's every job is still "everything" to the one asking.
            tenant: _,
        } = self;
        state.is_none()
            && module_hash.is_none()
            && lane.is_none()
            && node.is_none()
            && schedule.is_none()
            && workflow.is_none()
            && name.is_none()
            && search.is_none()
            && submitted_after.is_none()
            && submitted_before.is_none()
            && before.is_none()
    }
}

/// What a bulk action found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bulk {
    /// Jobs the filter selected.
    pub matched: u64,
    /// The jobs it changed, each with the state it was in (a cancelled job that was
    /// `running` must be stopped on its host).
    pub changed: Vec<(JobId, JobState)>,
}

/// One ended attempt of a job, as kept in its history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    /// Its number (1 for the first).
    pub attempt: u32,
    /// The host that ran it.
    pub node: Option<String>,
    /// The worker process that ran it.
    pub worker_pid: Option<u32>,
    /// When it started on its worker.
    pub started_at: SystemTime,
    /// When it ended.
    pub finished_at: SystemTime,
    /// How it ended (`succeeded`, `failed`, `timed_out`, `cancelled`), even when the job was
    /// queued again for another attempt.
    pub state: JobState,
    /// The guest's exit code, when it exited.
    pub exit_code: Option<i32>,
    /// Why it did not succeed.
    pub error: Option<String>,
}

/// Where a job stands, and how big what it gave back is: what a wait on many jobs reads
/// first, to pick the ended ones whose whole records fit its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobStanding {
    /// The job.
    pub id: JobId,
    /// Its state.
    pub state: JobState,
    /// Bytes of its stdout, stderr, error and call result together.
    pub output_bytes: u64,
}

/// A job's state changed (published after the change committed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobEvent {
    /// The job.
    pub id: JobId,
    /// Its new state.
    pub state: JobState,
}

/// What recovery after a restart did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Jobs claimed that had not reached a worker, queued again with the attempt uncounted.
    pub released: u64,
    /// Jobs found running and queued again for another attempt.
    pub requeued: u64,
    /// Jobs found running with no attempts left, now failed.
    pub failed: u64,
}

impl Finished {
    /// The job.
    pub fn id(&self) -> JobId {
        self.attempt.id
    }
}

/// Where the jobs are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file (one host).
    Sqlite(PathBuf),
    /// A PostgreSQL database shared by every host of a cluster (a `postgres://` URL).
    Postgres(String),
}

impl Location {
    /// Parses `--store`: `postgres://…` (or `postgresql://…`) or `sqlite:PATH`.
    pub fn parse(text: &str) -> Result<Location, String> {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Ok(Location::Postgres(text.to_string()))
        } else if let Some(path) = text.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err("`sqlite:` needs a file path, e.g. sqlite:./jobs.db".into());
            }
            Ok(Location::Sqlite(PathBuf::from(path)))
        } else {
            Err(format!("unknown store `{text}`: give postgres://USER@HOST/DB or sqlite:PATH"))
        }
    }

    /// The location with any password left out, for logs and messages.
    pub fn redacted(&self) -> String {
        match self {
            Location::Sqlite(path) => format!("sqlite:{}", path.display()),
            Location::Postgres(url) => match (url.find("://"), url.rfind('@')) {
                (Some(scheme), Some(at)) if at > scheme => {
                    let user = &url[scheme + 3..at];
                    let user = user.split(':').next().unwrap_or("");
                    format!("{}{user}{}", &url[..scheme + 3], &url[at..])
                }
                _ => url.clone(),
            },
        }
    }
}

/// What an answer to a client (a 202, a cancel, an upload) promises about the change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// On disk: the change survives a power loss (`serve --sync on`, the default). SQLite
    /// syncs its log (`synchronous = FULL`), PostgreSQL commits synchronously.
    #[default]
    Disk,
    /// In the database's log, handed to the operating system but not yet synced (`serve
    /// --sync off`): it survives a crash or a kill of the service, not of the machine (nor,
    /// on PostgreSQL, of the database server). SQLite: `synchronous = NORMAL` in WAL mode;
    /// PostgreSQL: `synchronous_commit = off`.
    Log,
}

/// This host as a node of the cluster.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    /// Its name (unique among live hosts).
    pub name: String,
    /// Where its API listens.
    pub address: String,
    /// Its wasmpool version.
    pub version: String,
    /// Its worker processes.
    pub workers: usize,
    /// The lanes it serves, with their workers (every host of a cluster learns which lanes
    /// some live host serves).
    pub lanes: Vec<(String, usize)>,
    /// How long a silent host stays alive before the others declare it lost.
    pub lease: Duration,
    /// Most connections it opens to a shared database (PostgreSQL).
    pub connections: u32,
}

/// What this host reports with each heartbeat.
#[derive(Clone, Debug, Default)]
pub struct Beat {
    /// Workers running a job.
    pub busy: usize,
    /// Its workers as the API shows them (JSON), for `/v1/pool` on other hosts.
    pub pool: serde_json::Value,
    /// Whether it is draining (stopping: takes no new jobs, finishes its running ones).
    pub draining: bool,
    /// The attempts it holds (claimed, running or about to run).
    pub holding: Vec<Attempt>,
}

/// What a heartbeat learnt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Heard {
    /// False when the cluster declared this node lost: everything it holds was rescued, and
    /// it must stop its jobs and join again as a new incarnation.
    pub alive: bool,
    /// Attempts it holds that are no longer its to run (cancelled, or rescued elsewhere).
    pub gone: Vec<JobId>,
    /// Whether the cluster is paused.
    pub paused: bool,
}

/// What rescuing the jobs of lost nodes did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rescued {
    /// The nodes declared lost.
    pub nodes: Vec<String>,
    /// And what happened to their jobs.
    pub jobs: Recovered,
}

/// Jobs of one lane.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LaneCount {
    /// Waiting to be claimed.
    pub queued: u64,
    /// Claimed or running.
    pub running: u64,
}
