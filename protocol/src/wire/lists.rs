//! What lists and bulk actions on jobs take and answer: job summaries, pages, the
//! selector of a bulk action and its result.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::*;
use crate::validate;

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
    /// The exported function a call job runs (`null` for a command); `args_preview` then
    /// shows the call with its parameters, as `square(7)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    /// The workflow the job belongs to (`null` outside one).
    #[serde(default)]
    pub workflow: Option<i64>,
}

/// Which jobs a bulk action (`POST /v1/jobs/retry`, `POST /v1/jobs/cancel`) acts on: the
/// list's filters, combined with AND. At least one must be given, and none as `null`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobSelector {
    /// Only jobs in this state.
    #[serde(default, deserialize_with = "not_null", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub state: Option<JobState>,
    /// Only jobs of this module (hash or name).
    #[serde(default, deserialize_with = "not_null", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub module: Option<String>,
    /// Only jobs of this lane.
    #[serde(default, deserialize_with = "not_null", skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = lane_filter)]
    pub lane: Option<String>,
    /// Only jobs whose current or last attempt ran on this host.
    #[serde(default, deserialize_with = "not_null", skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = node_filter)]
    pub node: Option<String>,
    /// Only jobs made by this schedule.
    #[serde(default, deserialize_with = "not_null", skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schedule_filter)]
    pub schedule: Option<String>,
    /// Only jobs whose name contains this (case-sensitive).
    #[serde(default, deserialize_with = "not_null", skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = name_filter)]
    pub name: Option<String>,
    /// Only the job with this id (when all digits) or jobs whose name contains this.
    #[serde(default, deserialize_with = "not_null", skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = q_filter)]
    pub q: Option<String>,
    /// Only jobs submitted at or after this time (RFC 3339).
    #[serde(default, deserialize_with = "not_null", skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = after_filter)]
    pub submitted_after: Option<String>,
    /// Only jobs submitted before this time (RFC 3339).
    #[serde(default, deserialize_with = "not_null", skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = before_filter)]
    pub submitted_before: Option<String>,
    /// Count, change nothing: the answer says how many jobs the filter selects (`matched`)
    /// and how many the action would change (`changed`; `deleted` for a delete).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

// The selector's fields as the document states them: their rules live in `validate`.
fn lane_filter() -> utoipa::openapi::Object {
    validate::described(validate::name_schema(), "Only jobs of this lane.")
}

fn node_filter() -> utoipa::openapi::Object {
    validate::described(
        validate::filter_text_schema(),
        "Only jobs whose current or last attempt ran on this host.",
    )
}

fn schedule_filter() -> utoipa::openapi::Object {
    validate::described(validate::name_schema(), "Only jobs made by this schedule.")
}

fn name_filter() -> utoipa::openapi::Object {
    validate::described(
        validate::filter_text_schema(),
        "Only jobs whose name contains this (case-sensitive).",
    )
}

fn q_filter() -> utoipa::openapi::Object {
    validate::described(
        validate::filter_text_schema(),
        "Only the job with this id (when all digits) or jobs whose name contains this.",
    )
}

fn after_filter() -> utoipa::openapi::Object {
    validate::described(
        validate::time_schema(),
        "Only jobs submitted at or after this time (RFC 3339).",
    )
}

fn before_filter() -> utoipa::openapi::Object {
    validate::described(validate::time_schema(), "Only jobs submitted before this time (RFC 3339).")
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

/// One page of jobs, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobPage {
    /// The jobs, as summaries (the whole of one is at `GET /v1/jobs/{id}`).
    pub jobs: Vec<JobSummary>,
    /// Pass as `cursor` to get the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
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
