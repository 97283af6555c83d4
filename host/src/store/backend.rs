//! The contract both backends keep, one trait per subject (as the statements are filed), all
//! together [`Backend`]: a backend that lacks a method does not compile. The facade
//! ([`super::Store`]) documents each method for callers and dispatches to the backend it
//! opened; `tests/all/conformance` checks that both keep the same promises.
//!
//! The traits are the crate's own (never implemented or called outside the store), so their
//! `async fn`s need no `Send` bound spelled out: callers reach them through the facade, where
//! each backend's future is a concrete type.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::tenants::{NewToken, TokenRecord};
use super::workflow::{ParentResult, WorkflowBrief, WorkflowRecord};
use super::{
    Attempt, AttemptRecord, Beat, Bucket, Bulk, Cancel, Change, Claimed, Finished, Fired, Heard,
    JobBrief, JobFilter, JobId, JobRecord, JobStanding, JobState, JobSummaryRecord, LaneCount,
    ModuleRecord, ModuleStats, NewJob, NewSchedule, NodeRecord, QueueItem, QueueStat, Recovered,
    Rescued, Result, Running, ScheduleChange, ScheduleRecord, Tick,
};
use crate::job::ModuleKind;
use crate::wire::TenantQuotas;
use wasmpool_protocol::workflow::WorkflowLimits;

/// Everything a store does.
pub trait Backend:
    Jobs
    + Claims
    + BulkActions
    + Modules
    + Queues
    + Schedules
    + Reads
    + Stats
    + Cluster
    + Workflows
    + Tenancy
    + RateLimits
{
}

impl<T> Backend for T where
    T: Jobs
        + Claims
        + BulkActions
        + Modules
        + Queues
        + Schedules
        + Reads
        + Stats
        + Cluster
        + Workflows
        + Tenancy
        + RateLimits
{
}

/// Jobs that run after other jobs: a submission with edges, a workflow's retry (its cancel
/// is a bulk cancel of its jobs), and its reads.
pub trait Workflows {
    async fn submit_workflow(
        &self,
        jobs: Vec<NewJob>,
        limits: WorkflowLimits,
    ) -> Result<Vec<(JobId, JobState)>>;
    async fn retry_workflow(&self, id: i64) -> Result<Option<Vec<(JobId, JobState)>>>;
    async fn workflow(&self, id: i64) -> Result<Option<WorkflowRecord>>;
    async fn parent_results(&self, id: JobId) -> Result<Vec<ParentResult>>;
    async fn workflows(
        &self,
        limit: u32,
        before: Option<i64>,
        tenant: &str,
    ) -> Result<Vec<WorkflowBrief>>;
}

/// One job's changes ([`super::Store::submit`] and the rest).
pub trait Jobs {
    async fn submit(&self, jobs: Vec<NewJob>) -> Result<Vec<(JobId, JobState)>>;
    async fn cancel(&self, id: JobId) -> Result<Cancel>;
    async fn retry(&self, id: JobId) -> Result<Change>;
    async fn delete_job(&self, id: JobId) -> Result<Change>;
    async fn release(&self, attempts: Vec<Attempt>) -> Result<()>;
    async fn recover(&self) -> Result<Recovered>;
    async fn purge(&self, cutoff: SystemTime) -> Result<u64>;
    async fn progress(&self, by: Running, percent: u8, message: String) -> Result<()>;
}

/// The dispatcher's one write ([`super::Store::finish_and_claim`]).
pub trait Claims {
    async fn finish_and_claim(
        &self,
        started: Vec<(Attempt, SystemTime)>,
        finished: Vec<Finished>,
        lane: &str,
        limit: usize,
    ) -> Result<Claimed>;
}

/// Actions on every job a filter selects.
pub trait BulkActions {
    async fn cancel_matching(&self, filter: &JobFilter) -> Result<Bulk>;
    async fn retry_matching(&self, filter: &JobFilter) -> Result<Bulk>;
    async fn delete_matching(&self, filter: &JobFilter) -> Result<Bulk>;
}

/// Modules and their caps.
pub trait Modules {
    async fn put_module(
        &self,
        hash: String,
        kind: ModuleKind,
        bytes: &[u8],
        name: Option<String>,
        exports: Option<String>,
    ) -> Result<(ModuleRecord, bool)>;
    async fn module_bytes(&self, hash: &str) -> Result<Option<Vec<u8>>>;
    async fn delete_module(&self, hash: String) -> Result<()>;
    async fn set_max_running(
        &self,
        hash: String,
        max_running: Option<u32>,
    ) -> Result<Option<ModuleRecord>>;
}

/// Named queues.
pub trait Queues {
    async fn queue_put(
        &self,
        queue: String,
        item: Vec<u8>,
        capacity: u64,
        by: Option<Running>,
    ) -> Result<bool>;
    async fn queue_take(
        &self,
        queue: String,
        by: Option<Running>,
    ) -> Result<Option<(i64, Vec<u8>)>>;
    async fn queue_restore(&self, queue: String, id: i64, item: Vec<u8>) -> Result<()>;
    async fn queue_purge(&self, queue: String) -> Result<u64>;
    async fn queue_len(&self, queue: &str) -> Result<u64>;
    async fn queue_peek(&self, queue: &str, limit: u32, preview: u32) -> Result<Vec<QueueItem>>;
}

/// Schedules, and the store's clock they tick by.
pub trait Schedules {
    async fn now(&self) -> Result<SystemTime>;
    async fn create_schedule(&self, schedule: NewSchedule) -> Result<Option<ScheduleRecord>>;
    async fn update_schedule(
        &self,
        name: String,
        change: ScheduleChange,
    ) -> Result<Option<ScheduleRecord>>;
    async fn delete_schedule(&self, name: String) -> Result<bool>;
    async fn fire(&self, tick: Tick) -> Result<Fired>;
    async fn schedule(&self, name: &str) -> Result<Option<ScheduleRecord>>;
    async fn schedule_count(&self) -> Result<u64>;
    async fn schedules(&self) -> Result<Vec<ScheduleRecord>>;
}

/// Jobs and modules as the API reads them.
pub trait Reads {
    async fn job(&self, id: JobId) -> Result<Option<JobRecord>>;
    async fn jobs(&self, filter: &JobFilter) -> Result<Vec<JobSummaryRecord>>;
    async fn count_matching(&self, filter: &JobFilter) -> Result<BTreeMap<JobState, u64>>;
    async fn attempts(&self, ids: &[JobId]) -> Result<BTreeMap<JobId, Vec<AttemptRecord>>>;
    async fn briefs(&self, ids: &[JobId]) -> Result<Vec<JobBrief>>;
    async fn standings(&self, ids: &[JobId]) -> Result<Vec<JobStanding>>;
    async fn jobs_by_id(&self, ids: &[JobId]) -> Result<Vec<JobRecord>>;
    async fn module(&self, hash_or_name: &str) -> Result<Option<ModuleRecord>>;
    async fn modules(&self) -> Result<Vec<ModuleRecord>>;
    async fn counts(&self) -> Result<BTreeMap<JobState, u64>>;
    async fn next_due(&self, lane: &str) -> Result<Option<SystemTime>>;
    async fn lane_counts(&self) -> Result<BTreeMap<String, LaneCount>>;
}

/// What the dashboard counts.
pub trait Stats {
    async fn queues(&self) -> Result<Vec<QueueStat>>;
    async fn module_stats(&self) -> Result<Vec<ModuleStats>>;
    async fn history(&self, from: SystemTime, width: Duration, count: u32) -> Result<Vec<Bucket>>;
}

/// The hosts sharing the store. SQLite has one host, always alive, and says so.
pub trait Cluster {
    async fn heartbeat(&self, beat: Beat) -> Result<Heard>;
    async fn rejoin(&self) -> Result<()>;
    async fn rescue(&self, lease: Duration) -> Result<Rescued>;
    async fn leave(&self) -> Result<()>;
    async fn nodes(&self) -> Result<Vec<NodeRecord>>;
    async fn lanes_served(&self) -> Result<Vec<String>>;
    async fn set_paused(&self, paused: bool) -> Result<()>;
}

/// Tenants, their tokens, and which modules each owns.
pub trait Tenancy {
    async fn create_token(&self, token: NewToken) -> Result<TokenRecord>;
    async fn tokens(&self, tenant: Option<&str>) -> Result<Vec<TokenRecord>>;
    async fn revoke_token(&self, id: i64, tenant: Option<String>) -> Result<bool>;
    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<TokenRecord>>;
    async fn own_module(&self, tenant: String, hash: String) -> Result<()>;
    async fn owns_module(&self, tenant: &str, hash: &str) -> Result<bool>;
    async fn owned_modules(&self, tenant: &str) -> Result<Vec<String>>;
    async fn module_owners(&self, hash: &str) -> Result<u64>;
    async fn disown_module(&self, tenant: String, hash: String) -> Result<()>;
    async fn tenant_quotas(&self, tenant: &str) -> Result<Option<TenantQuotas>>;
    async fn set_tenant_quotas(&self, tenant: String, quotas: TenantQuotas) -> Result<bool>;
    async fn tenant_queued(&self, tenant: &str) -> Result<u64>;
    async fn tenant_module_bytes(&self, tenant: &str) -> Result<u64>;
}

/// Named rate limits ([`super::Store::set_rate_limit`] and the rest); names are stored.
pub trait RateLimits {
    async fn set_rate_limit(&self, stored: String, values: (i64, i64, i64)) -> Result<()>;
    async fn delete_rate_limit(&self, stored: String) -> Result<bool>;
    async fn rate_limits(&self, tenant: &str) -> Result<Vec<super::limits::RateLimitRow>>;
    async fn rate_limits_known(&self, stored: Vec<String>) -> Result<Vec<String>>;
}
