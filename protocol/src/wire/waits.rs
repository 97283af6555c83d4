//! A wait on many jobs at once (`POST /v1/jobs/wait`): what it takes and answers. A client
//! that runs thousands of jobs collects their ends a few requests at a time, not one
//! request per job.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::JobState;

/// At most this many ids in one wait.
pub const WAIT_MAX_IDS: usize = 10_000;

/// At most about this many bytes of output (stdout, stderr, errors and results together) in
/// one answer; ended jobs beyond it are left for the next request (`left_off`). One job is
/// always answered, whatever its size (its output is capped by the service anyway).
pub const WAIT_ANSWER_BYTES: u64 = 8 << 20;

/// A wait on many jobs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitRequest {
    /// The jobs to wait on: 1 to 10,000 ids (a repeated id counts once).
    #[schema(schema_with = ids_schema)]
    #[serde(deserialize_with = "whole_ids")]
    pub ids: Vec<i64>,
    /// How long to wait at most for one of them to end, in milliseconds (default, and cut
    /// to, the service's `--max-wait`: 60000 unless configured); 0 answers at once.
    #[serde(default, deserialize_with = "super::integral::option")]
    #[schema(minimum = 0)]
    pub timeout_ms: Option<u64>,
}

/// `ids`' schema: 1 to [`WAIT_MAX_IDS`] job ids, each a positive integer (`schema_with`
/// leaves out the field's doc comment, so the description is here too).
fn ids_schema() -> utoipa::openapi::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let id = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1));
    ArrayBuilder::new()
        .items(id)
        .min_items(Some(1))
        .max_items(Some(WAIT_MAX_IDS))
        .description(Some("The jobs to wait on: 1 to 10,000 ids (a repeated id counts once)."))
        .build()
}

/// Reads `ids`: whole numbers, also written as floats (`12.0`); one beyond `i64` saturates
/// (no job has that id, so the wait answers 404 naming it), a fraction is refused.
fn whole_ids<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<i64>, D::Error> {
    let numbers = Vec::<serde_json::Number>::deserialize(deserializer)?;
    let whole = |number: &serde_json::Number| {
        if let Some(id) = number.as_i64() {
            return Ok(id);
        }
        if number.as_u64().is_some() {
            return Ok(i64::MAX);
        }
        match number.as_f64() {
            Some(f) if f.fract() == 0.0 && f >= i64::MAX as f64 => Ok(i64::MAX),
            Some(f) if f.fract() == 0.0 && f > i64::MIN as f64 => Ok(f as i64),
            _ => Err(serde::de::Error::custom(format!("`{number}` is not a job id"))),
        }
    };
    numbers.iter().map(whole).collect()
}

/// What a client needs of an ended job to give back its result or its failure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobEnd {
    /// The job's id.
    pub id: i64,
    /// How it ended.
    pub state: JobState,
    /// Attempts started.
    pub attempts: u32,
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
    /// Why it did not succeed.
    pub error: Option<String>,
    /// The exported function a call job ran (absent for a command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    /// What the call returned (absent for a command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// When it ended (RFC 3339).
    pub finished_at: Option<String>,
}

/// The answer to a wait on many jobs: given as soon as one of them has ended, or at the
/// timeout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WaitAnswer {
    /// Jobs among the ids that have ended, by id, as many as the answer's size bound holds
    /// (empty at a timeout with none ended).
    pub ended: Vec<JobEnd>,
    /// How many of the ids had ended but were left out to bound the answer's size: ask
    /// again (without the ids answered) to get them.
    pub left_off: u64,
    /// How many of the ids were still queued or running.
    pub pending: u64,
}
