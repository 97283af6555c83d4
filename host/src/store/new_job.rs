//! A new job's column values, mapped from the submission once for both backends' inserts
//! (`sql/insert.sql` beside each): JSON text for the lists, integers as stored; a workflow's
//! jobs with their planned first state.

use super::workflow::Planned;
use super::{JobState, NewJob};

/// The values of one new job's row.
pub struct JobColumns<'a> {
    pub name: Option<&'a str>,
    pub module_hash: &'a str,
    /// The arguments, as a JSON array.
    pub args: String,
    /// The environment, as a JSON object.
    pub env: String,
    pub stdin: &'a [u8],
    pub priority: i64,
    pub timeout_ms: i64,
    pub memory_mb: i64,
    pub fuel: Option<i64>,
    pub max_attempts: i64,
    pub idempotency_key: Option<&'a str>,
    /// How long after its submission the job falls due (µs).
    pub delay_us: i64,
    pub argv0: Option<&'a str>,
    pub job_env: bool,
    pub module_name: Option<&'a str>,
    pub lane: &'a str,
    /// The exported function a call runs; `None` for a command.
    pub call_function: Option<&'a str>,
    /// The call's parameters (a JSON array).
    pub call_params: Option<&'a str>,
    /// The mounts, as a JSON array; `None` without any.
    pub mounts: Option<String>,
    /// Its first state: `queued`, or as a workflow's plan says.
    pub state: &'static str,
    /// The workflow it belongs to.
    pub workflow_id: Option<i64>,
    /// Its parents not yet ended.
    pub waiting_on: i64,
    /// What it does when a parent fails (`None` outside a workflow).
    pub on_parent_failure: Option<&'static str>,
    /// Why it ended at once (a parent had already failed).
    pub error: Option<&'a str>,
    /// Whether its stdin is its parents' results.
    pub stdin_from_parents: bool,
    /// The tenant that owns the job.
    pub tenant: &'a str,
    /// Its concurrency key, stored per tenant (`TENANT:key`, as names are).
    pub concurrency_key: Option<String>,
    /// The most jobs with the key that may run at once.
    pub concurrency_limit: Option<i64>,
    /// The rate limits it uses, stored per tenant, as a JSON array; `None` without any.
    pub rate_limits: Option<String>,
}

impl<'a> JobColumns<'a> {
    /// The row of `job`.
    pub fn of(job: &'a NewJob) -> JobColumns<'a> {
        JobColumns {
            name: job.name.as_deref(),
            module_hash: &job.module_hash,
            args: serde_json::to_string(&job.args).expect("strings serialise"),
            env: serde_json::to_string(&job.env).expect("strings serialise"),
            stdin: &job.stdin,
            priority: job.priority.into(),
            timeout_ms: job.timeout_ms as i64,
            memory_mb: job.memory_mb as i64,
            fuel: job.fuel.map(|fuel| fuel as i64),
            max_attempts: job.max_attempts.into(),
            idempotency_key: job.idempotency_key.as_deref(),
            delay_us: job.delay.as_micros() as i64,
            argv0: job.argv0.as_deref(),
            job_env: job.job_env,
            module_name: job.module_name.as_deref(),
            lane: &job.lane,
            call_function: job.call.as_deref(),
            call_params: job.params.as_deref(),
            mounts: (!job.mounts.is_empty())
                .then(|| serde_json::to_string(&job.mounts).expect("mounts serialise")),
            state: JobState::Queued.as_str(),
            workflow_id: None,
            waiting_on: 0,
            on_parent_failure: None,
            error: None,
            stdin_from_parents: false,
            tenant: &job.tenant,
            concurrency_key: job
                .concurrency
                .as_ref()
                .map(|(key, _)| super::tenants::stored_name(&job.tenant, key)),
            concurrency_limit: job.concurrency.as_ref().map(|(_, limit)| i64::from(*limit)),
            rate_limits: (!job.rate_limits.is_empty()).then(|| {
                let stored: Vec<String> = job
                    .rate_limits
                    .iter()
                    .map(|name| super::tenants::stored_name(&job.tenant, name))
                    .collect();
                serde_json::to_string(&stored).expect("strings serialise")
            }),
        }
    }

    /// The row of `job`, a job of workflow `workflow` planned so.
    pub fn planned(job: &'a NewJob, workflow: i64, plan: &'a Planned) -> JobColumns<'a> {
        JobColumns {
            state: plan.state.as_str(),
            workflow_id: Some(workflow),
            waiting_on: plan.waiting_on,
            on_parent_failure: Some(job.on_parent_failure.as_str()),
            error: plan.error.as_deref(),
            stdin_from_parents: job.stdin_from_parents,
            ..JobColumns::of(job)
        }
    }
}
