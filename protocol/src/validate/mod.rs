//! Checking a submission against the service's limits and turning it into a [`NewJob`].
//! Every refusal names the field and the allowed range. Pure: no I/O, no HTTP; the API maps
//! a [`Refused`] to a 400 answer, and the `job_request` fuzz target drives it directly.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

mod flow;
mod mounts;
pub use flow::{MAX_CONCURRENCY_LIMIT, MAX_JOB_RATE_LIMITS};
use mounts::check_mounts;
pub use mounts::{MAX_MOUNT_PATH, MAX_MOUNTS, check_mount_path};

use crate::units::{format_duration_whole, format_size};
use crate::wire::{JobRequest, Mount};

/// Defaults and maxima for jobs and uploads.
#[derive(Clone, Debug)]
pub struct ServiceLimits {
    /// Timeout when a job gives none.
    pub default_timeout: Duration,
    /// Largest timeout a job may ask for.
    pub max_timeout: Duration,
    /// Memory when a job gives none, MiB.
    pub default_memory_mb: u64,
    /// Largest memory a job may ask for, MiB.
    pub max_memory_mb: u64,
    /// Largest attempts count.
    pub max_attempts: u32,
    /// Largest delay.
    pub max_delay: Duration,
    /// Largest `.wasm` upload, bytes.
    pub max_module_bytes: usize,
    /// Largest JSON request body (stdin included), bytes.
    pub max_request_bytes: usize,
    /// Most jobs in one batch.
    pub max_batch: usize,
    /// Cap on each of stdout and stderr per job, bytes.
    pub output_bytes: u64,
    /// Longest a job wait or a queue put or get holds a request.
    pub max_wait: Duration,
    /// Most schedules the service keeps (every host evaluates every one each round).
    pub max_schedules: u64,
    /// Most jobs and edges in one workflow.
    pub workflow: crate::workflow::WorkflowLimits,
}

impl Default for ServiceLimits {
    fn default() -> Self {
        ServiceLimits {
            default_timeout: Duration::from_secs(60),
            max_timeout: Duration::from_secs(3600),
            default_memory_mb: 256,
            max_memory_mb: 4096,
            max_attempts: 10,
            max_delay: Duration::from_secs(7 * 24 * 3600),
            max_module_bytes: 64 << 20,
            max_request_bytes: 16 << 20,
            max_batch: 1000,
            output_bytes: crate::job::DEFAULT_OUTPUT_BYTES,
            max_wait: Duration::from_secs(60),
            max_schedules: 1000,
            workflow: crate::workflow::WorkflowLimits::default(),
        }
    }
}

/// A validated job submission, ready for the store.
#[derive(Clone, Debug)]
pub struct NewJob {
    /// The module's hash (resolved from a name by the caller).
    pub module_hash: String,
    /// A label for people.
    pub name: Option<String>,
    /// Arguments after the program name.
    pub args: Vec<String>,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// Standard input.
    pub stdin: Vec<u8>,
    /// Higher first.
    pub priority: i32,
    /// Wall-clock limit.
    pub timeout_ms: u64,
    /// Memory limit in MiB.
    pub memory_mb: u64,
    /// Fuel limit.
    pub fuel: Option<u64>,
    /// Attempts allowed in all.
    pub max_attempts: u32,
    /// Not to start before this much time has passed.
    pub delay: Duration,
    /// A retried submission with the same key returns the first job.
    pub idempotency_key: Option<String>,
    /// The guest's argv[0]; `None` for the default.
    pub argv0: Option<String>,
    /// Whether the guest's environment also holds `WASMPOOL_JOB_ID` and `WASMPOOL_WORKER_PID`.
    pub job_env: bool,
    /// The module name the job was submitted by; `None` when by hash.
    pub module_name: Option<String>,
    /// The lane whose workers run it (a name [`check_name`] accepts).
    pub lane: String,
    /// The exported function a call runs (`None`: run the module as a command).
    pub call: Option<String>,
    /// The call's parameters as a JSON array, once checked against the function's type.
    pub params: Option<String>,
    /// The service's directories it is granted (names checked against the service's by the
    /// caller, which knows them).
    pub mounts: Vec<Mount>,
    /// The jobs it runs after (resolved from the request's `after` by the caller).
    pub after: Vec<crate::workflow::Parent>,
    /// What it does when a parent fails.
    pub on_parent_failure: crate::workflow::ParentFailure,
    /// Whether its stdin is its parents' results (written when it is queued).
    pub stdin_from_parents: bool,
    /// Whether its call's parameters are its parents' results (written when it is queued).
    pub params_from_parents: bool,
    /// The tenant that owns the job (the submitter's token's; [`DEFAULT_TENANT`] without one).
    pub tenant: String,
    /// Its concurrency key (as given; the store keeps it per tenant) and the most jobs with
    /// it that may run at once.
    pub concurrency: Option<(String, u32)>,
    /// The rate limits it uses (as given; the store keeps them per tenant).
    pub rate_limits: Vec<String>,
}

/// The tenant everything belongs to that no other tenant owns: `serve --token`'s, and that of
/// every job, module and schedule stored before tenants existed.
pub const DEFAULT_TENANT: &str = "default";

impl Default for NewJob {
    /// An empty job in the default lane.
    fn default() -> Self {
        NewJob {
            module_hash: String::new(),
            name: None,
            args: Vec::new(),
            env: BTreeMap::new(),
            stdin: Vec::new(),
            priority: 0,
            timeout_ms: 0,
            memory_mb: 0,
            fuel: None,
            max_attempts: 0,
            delay: Duration::ZERO,
            idempotency_key: None,
            argv0: None,
            job_env: false,
            module_name: None,
            lane: DEFAULT_LANE.to_string(),
            call: None,
            params: None,
            mounts: Vec::new(),
            after: Vec::new(),
            on_parent_failure: crate::workflow::ParentFailure::Cancel,
            stdin_from_parents: false,
            params_from_parents: false,
            tenant: DEFAULT_TENANT.to_string(),
            concurrency: None,
            rate_limits: Vec::new(),
        }
    }
}

/// Why a submission was refused: a sentence naming the field and what it may be.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Highest priority (and, negated, the lowest) a job may ask for.
pub const MAX_PRIORITY: i32 = 1000;
/// Longest `name`, in bytes.
pub const MAX_NAME: usize = 200;
/// Most arguments a job may have.
pub const MAX_ARGS: usize = 4096;
/// Longest `Idempotency-Key`, in bytes.
pub const MAX_KEY: usize = 200;
/// Longest name of a called function, in bytes.
pub const MAX_CALL: usize = 1000;
/// Longest argv[0], as a path may be (Linux's `PATH_MAX`).
pub const MAX_ARGV0: usize = 4096;
/// The lane of a job that names none, and the one lane of a service started without `--lane`.
pub const DEFAULT_LANE: &str = "default";
/// Longest lane (or schedule) name, in bytes.
pub const MAX_LANE_NAME: usize = 64;

/// Checks a lane's or a schedule's name: 1 to 64 letters, digits, `_`, `.` or `-`, starting
/// with a letter or digit (it appears in URLs, job listings and log lines as it is). `what`
/// names the thing in the refusal ("lane"). The one copy of the rule: the API document's
/// schema of such a name is [`name_schema`].
pub fn check_name(what: &str, name: &str) -> Result<(), Refused> {
    let fine = (1..=MAX_LANE_NAME).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if fine {
        return Ok(());
    }
    Err(Refused(format!(
        "{what} name `{}` must be 1 to {MAX_LANE_NAME} letters, digits, `_`, `.` or `-`, \
         starting with a letter or digit",
        name.escape_debug()
    )))
}

/// [`check_name`] as the API document states it.
pub fn name_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_LANE_NAME))
        .pattern(Some(format!("^[A-Za-z0-9][A-Za-z0-9_.-]{{0,{}}}$", MAX_LANE_NAME - 1)))
        .build()
}

/// [`name_schema`] for a body field that may also be `null` (left at its default).
pub fn optional_name_schema() -> utoipa::openapi::Object {
    nullable(name_schema())
}

/// Longest text a `name`, `q` or `node` filter may be, in characters.
pub const MAX_FILTER_TEXT: usize = 1024;

/// Checks a text filter: not empty (it would select everything with a name, which nobody
/// means), not huge. Its schema is [`filter_text_schema`].
pub fn check_filter_text(field: &str, value: &str) -> Result<(), Refused> {
    if value.is_empty() || value.chars().count() > MAX_FILTER_TEXT {
        return Err(Refused(format!(
            "`{field}` must be 1 to {MAX_FILTER_TEXT} characters of text"
        )));
    }
    Ok(())
}

/// [`check_filter_text`] as the API document states it.
pub fn filter_text_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_FILTER_TEXT))
        .build()
}

/// A time filter: an RFC 3339 date-time (the API reads any, with `Z` or an offset).
pub fn time_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .build()
}

/// A module's name or hash as a submission names it: not empty.
pub fn module_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).build()
}

/// A schema with the description its field gives it (`schema_with` leaves out the field's
/// doc comment).
pub fn described(mut schema: utoipa::openapi::Object, text: &str) -> utoipa::openapi::Object {
    schema.description = Some(text.to_string());
    schema
}

fn nullable(mut schema: utoipa::openapi::Object) -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{SchemaType, Type};
    schema.schema_type = SchemaType::from_iter([Type::String, Type::Null]);
    schema
}

/// Checks a submission; `module_hash` is the resolved module (`request.module` names it by
/// hash or by name).
pub fn new_job(
    request: JobRequest,
    module_hash: String,
    idempotency_key: Option<String>,
    limits: &ServiceLimits,
) -> Result<NewJob, Refused> {
    let priority = request.priority.unwrap_or(0);
    if !(-MAX_PRIORITY..=MAX_PRIORITY).contains(&priority) {
        return Err(Refused(format!(
            "priority {priority} is out of range -{MAX_PRIORITY}..={MAX_PRIORITY}"
        )));
    }
    let Checked { timeout_ms, memory_mb, max_attempts, delay } = check_limits(&request, limits)?;
    check_inputs(&request, idempotency_key.as_deref())?;
    let concurrency = flow::concurrency(&request)?;
    let rate_limits = flow::rate_limits(&request)?;
    if !request.after.is_empty() && idempotency_key.is_some() {
        return Err(Refused("a job with `after` cannot have an Idempotency-Key".into()));
    }
    if request.stdin_from_parents && request.after.is_empty() {
        return Err(Refused("stdin_from_parents needs `after` (the parents)".into()));
    }
    if request.stdin_from_parents && (request.stdin.is_some() || request.stdin_base64.is_some()) {
        return Err(Refused("give either stdin or stdin_from_parents, not both".into()));
    }
    if request.params_from_parents {
        match (&request.call, request.after.is_empty(), &request.params) {
            (None, ..) => return Err(Refused("params_from_parents needs `call`".into())),
            (_, true, _) => return Err(Refused("params_from_parents needs `after`".into())),
            (.., Some(_)) => {
                return Err(Refused("give either params or params_from_parents, not both".into()));
            }
            _ => {}
        }
    }
    let stdin = match (request.stdin, request.stdin_base64) {
        (Some(_), Some(_)) => {
            return Err(Refused("give either stdin or stdin_base64, not both".into()));
        }
        (Some(text), None) => text.into_bytes(),
        (None, Some(encoded)) => STANDARD
            .decode(encoded.as_bytes())
            .map_err(|e| Refused(format!("stdin_base64 is not valid base64: {e}")))?,
        (None, None) => Vec::new(),
    };
    let lane = request.lane.unwrap_or_else(|| DEFAULT_LANE.to_string());
    check_name("lane", &lane)?;
    let module_name = (request.module != module_hash).then_some(request.module);
    Ok(NewJob {
        module_hash,
        module_name,
        argv0: request.argv0,
        job_env: request.job_env,
        name: request.name,
        args: request.args,
        env: request.env,
        stdin,
        priority,
        timeout_ms,
        memory_mb,
        fuel: request.fuel,
        max_attempts,
        delay,
        idempotency_key,
        lane,
        call: request.call,
        // Checked against the function's type by the caller, which knows the module's
        // exports ([`crate::call::check_params`]); stored as it will be passed.
        params: request.params.map(|params| params.to_string()),
        mounts: request.mounts,
        // Names are resolved against the batch by `workflow::resolve`; ids stay as given.
        after: Vec::new(),
        on_parent_failure: request.on_parent_failure.unwrap_or_default(),
        stdin_from_parents: request.stdin_from_parents,
        params_from_parents: request.params_from_parents,
        tenant: DEFAULT_TENANT.to_string(),
        concurrency,
        rate_limits,
    })
}

/// A submission's limits, checked against the service's.
struct Checked {
    timeout_ms: u64,
    memory_mb: u64,
    max_attempts: u32,
    delay: Duration,
}

fn check_limits(request: &JobRequest, limits: &ServiceLimits) -> Result<Checked, Refused> {
    let timeout_ms = request.timeout_ms.unwrap_or(limits.default_timeout.as_millis() as u64);
    let max_timeout = limits.max_timeout.as_millis() as u64;
    if timeout_ms == 0 {
        return Err(Refused("timeout_ms must be at least 1".into()));
    }
    if timeout_ms > max_timeout {
        // In the unit the value came in (ms), and as people set the maximum. The CLI reads
        // the figure after "at most" to answer in the unit its user typed.
        return Err(Refused(format!(
            "timeout_ms {timeout_ms} is above the service's maximum: at most {max_timeout} ({})",
            format_duration_whole(limits.max_timeout)
        )));
    }
    let memory_mb = request.memory_mb.unwrap_or(limits.default_memory_mb);
    if memory_mb == 0 {
        return Err(Refused("memory_mb must be at least 1".into()));
    }
    if memory_mb > limits.max_memory_mb {
        return Err(Refused(format!(
            "memory_mb {memory_mb} is above the service's maximum: at most {} ({})",
            limits.max_memory_mb,
            format_size(limits.max_memory_mb << 20)
        )));
    }
    if request.fuel == Some(0) {
        return Err(Refused("fuel must be at least 1 (leave it out for no fuel limit)".into()));
    }
    // The store keeps fuel as a signed 64-bit integer.
    if let Some(fuel) = request.fuel
        && fuel > i64::MAX as u64
    {
        return Err(Refused(format!("fuel {fuel} is out of range 1..={}", i64::MAX)));
    }
    let max_attempts = request.max_attempts.unwrap_or(1);
    if !(1..=limits.max_attempts).contains(&max_attempts) {
        return Err(Refused(format!(
            "max_attempts {max_attempts} is out of range 1..={}",
            limits.max_attempts
        )));
    }
    let delay = Duration::from_millis(request.delay_ms.unwrap_or(0));
    if delay > limits.max_delay {
        return Err(Refused(format!(
            "delay_ms is above the maximum of {}",
            limits.max_delay.as_millis()
        )));
    }
    Ok(Checked { timeout_ms, memory_mb, max_attempts, delay })
}

/// A submission's texts: lengths, and no NUL where WASI cannot pass one.
fn check_inputs(request: &JobRequest, idempotency_key: Option<&str>) -> Result<(), Refused> {
    check_text("name", request.name.as_deref().unwrap_or(""), MAX_NAME)?;
    check_text("argv0", request.argv0.as_deref().unwrap_or(""), MAX_ARGV0)?;
    check_text("Idempotency-Key", idempotency_key.unwrap_or(""), MAX_KEY)?;
    if request.args.len() > MAX_ARGS {
        return Err(Refused(format!(
            "{} args is more than the maximum of {MAX_ARGS}",
            request.args.len()
        )));
    }
    for arg in &request.args {
        no_nul("args", arg)?;
    }
    for (key, value) in &request.env {
        if key.is_empty() || key.contains('=') {
            return Err(Refused(format!("env name `{key}` must be non-empty and contain no `=`")));
        }
        no_nul("env", key)?;
        no_nul("env", value)?;
    }
    if request.params.is_some() && request.call.is_none() {
        return Err(Refused("params is only for a call: name the function in `call`".into()));
    }
    if let Some(call) = &request.call {
        check_text("call", call, MAX_CALL)?;
        if call.is_empty() {
            return Err(Refused("call must name a function".into()));
        }
    }
    check_mounts(&request.mounts)
}

pub(super) fn check_text(field: &str, text: &str, max: usize) -> Result<(), Refused> {
    if text.len() > max {
        return Err(Refused(format!("{field} is longer than {max} bytes")));
    }
    no_nul(field, text)
}

/// WASI passes args and env as C strings: a NUL byte cannot reach the guest.
fn no_nul(field: &str, text: &str) -> Result<(), Refused> {
    if text.contains('\0') {
        return Err(Refused(format!("{field} must not contain NUL bytes")));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
