//! The JSON shapes of the HTTP API, shared by the server (`api`) and the client verbs
//! (`client`). Changing a field here changes the public API: update the README with it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::validate::{self, described};

mod limits;
mod lists;
mod mount;
mod pool;
mod schedules;
mod tokens;
mod waits;

pub use limits::*;
pub use lists::*;
pub use mount::*;
pub use pool::*;
pub use schedules::*;
pub use tokens::*;
pub use waits::*;

/// A job's state is part of the JSON shapes; it lives, with the rules of its transitions, in
/// [`crate::job`].
pub use crate::job::JobState;

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
    #[schema(schema_with = module_schema)]
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
    #[schema(schema_with = lane_schema)]
    pub lane: Option<String>,
    /// Call this exported function instead of running the module as a command: `name`, or
    /// `ns:pkg/iface#name` for a function of an exported interface. The ended job's
    /// `result` is what it returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    /// The call's parameters: an array in order (or an object by parameter name), each
    /// JSON value mapped to the parameter's type as the README's table says; checked at
    /// submission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Value>,
    /// Directories the service declares (`serve --mount NAME=DIR`) to grant the job, each at
    /// a path of the guest's; none by default (the guest sees no file system).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 16)]
    pub mounts: Vec<Mount>,
    /// Run after these jobs have ended: each an existing job's id, or (in a batch) the
    /// `name` of a job of the same batch. The job waits (`waiting`) until then.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = crate::workflow::after_schema)]
    pub after: Vec<crate::workflow::After>,
    /// What the job does when one of its parents fails: `cancel` (the default), `run`
    /// anyway, or `skip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_parent_failure: Option<crate::workflow::ParentFailure>,
    /// Give the job, as its stdin, its parents' results once they have ended: a JSON object
    /// keyed by parent name (or id, for a parent without one), each `{"id", "state",
    /// "exit_code", "stdout"` (or `"stdout_base64"`), `"result"}`. Needs `after`; not
    /// together with `stdin`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stdin_from_parents: bool,
    /// Call `call` with the parents' results as its parameters, in `after` order (a call's
    /// `result`; a command's stdout as a string), once they have ended. Needs `call` and
    /// `after`; not together with `params`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub params_from_parents: bool,
    /// Run at most `concurrency_limit` jobs carrying this key at once, across every host (a
    /// customer's id, say): the others wait queued, no attempt counted. Named as lanes are;
    /// each tenant's keys are its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = concurrency_key_schema)]
    pub concurrency_key: Option<String>,
    /// How many jobs with its `concurrency_key` may run at once (default 1); jobs of one key
    /// should agree on it (a claim holds each job to its own).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "integral::option"
    )]
    #[schema(minimum = 1, maximum = 10000)]
    pub concurrency_limit: Option<u32>,
    /// The tenant's rate limits the job uses (`PUT /v1/rate-limits/{name}`): it starts only
    /// when each has a token, waiting queued (no attempt counted) until then.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 8)]
    pub rate_limits: Vec<String>,
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
    /// The exported function a call job runs (`null` for a command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    /// The call's parameters, as an array.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Value>,
    /// What the call returned, by the JSON mapping of its result type (`null` until it
    /// returns; `{"err": …}` when it failed with an `err` result).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// The service's directories granted to the job, and where the guest finds them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    /// The workflow the job belongs to (`null`: it runs after no job and none after it).
    #[serde(default)]
    pub workflow: Option<i64>,
    /// What the job does when a parent fails (`null` outside a workflow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_parent_failure: Option<crate::workflow::ParentFailure>,
    /// Its concurrency key (`null`: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_key: Option<String>,
    /// How many jobs with its key may run at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_limit: Option<u32>,
    /// The rate limits it uses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_limits: Vec<String>,
}

fn default_lane() -> String {
    crate::validate::DEFAULT_LANE.to_string()
}

/// A job's progress report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProgressView {
    /// Percent done, 0 to 100.
    pub percent: u8,
    /// What the job said.
    pub message: String,
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

/// The schemas of fields whose rule lives in [`crate::validate`], with their descriptions.
fn module_schema() -> utoipa::openapi::Object {
    described(validate::module_schema(), "The module's hash or name.")
}

fn concurrency_key_schema() -> utoipa::openapi::Object {
    let text = "Run at most `concurrency_limit` jobs with this key at once, across every host.";
    described(validate::optional_name_schema(), text)
}

fn lane_schema() -> utoipa::openapi::Object {
    let text = "The lane whose workers run it (default `default`), served by some live host.";
    described(validate::optional_name_schema(), text)
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

/// A field a body may leave out but not give as `null`: a `PATCH` field (nothing to clear),
/// a bulk action's filter (a `null` filter would select more than its sender meant).
fn not_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
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

    /// Like [`option`], telling `null` (`Some(None)`) from a field left out (`None`, by
    /// `#[serde(default)]`), as a `PATCH` body needs.
    pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<i64> + TryFrom<u64>,
    {
        option(deserializer).map(Some)
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
