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
    #[schema(min_items = 1, max_items = 10000)]
    pub ids: Vec<i64>,
    /// How long to wait at most for one of them to end, in milliseconds (default, and cut
    /// to, the service's `--max-wait`: 60000 unless configured); 0 answers at once.
    #[serde(default, deserialize_with = "super::integral::option")]
    #[schema(minimum = 0)]
    pub timeout_ms: Option<u64>,
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
