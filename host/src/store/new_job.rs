//! A new job's column values, mapped from the submission once for both backends' inserts
//! (`sql/insert.sql` beside each): JSON text for the lists, integers as stored.

use super::NewJob;

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
    /// The tenant that owns the job.
    pub tenant: &'a str,
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
            tenant: &job.tenant,
        }
    }
}
