//! The schedules' JSON shapes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::*;

/// A schedule to create: a job request submitted at every tick of a cron expression.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// Its name: 1–64 of `A-Z a-z 0-9 _ . -`, starting with a letter or digit.
    #[schema(schema_with = schedule_name_schema)]
    pub name: String,
    /// Five fields (`*/5 * * * *`), or six with seconds first (`*/10 * * * * *`); at most
    /// 1024 bytes.
    #[schema(example = "*/5 * * * *", max_length = 1024)]
    pub cron: String,
    /// The IANA time zone the expression is read in (default `UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The job each tick submits, checked as a submission is (its lane must be served); at
    /// most 8 KiB as JSON.
    pub job: JobRequest,
    /// Whether it makes jobs (default true; false creates it paused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Whether a host starting after ticks were missed (no host ran) makes a job for the most
    /// recent of them (default false: missed ticks are skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_up: Option<bool>,
}

/// Changes to a schedule: any of the fields, at least one; none may be `null`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchedulePatch {
    /// A new cron expression (ticks before now are not made); at most 1024 bytes.
    #[serde(default, deserialize_with = "not_null", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, max_length = 1024)]
    pub cron: Option<String>,
    /// A new time zone (ticks before now are not made).
    #[serde(default, deserialize_with = "not_null", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub timezone: Option<String>,
    /// A new job request (at most 8 KiB as JSON).
    #[serde(default, deserialize_with = "not_null", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub job: Option<JobRequest>,
    /// false pauses it, true resumes it (ticks while paused are not made).
    #[serde(default, deserialize_with = "not_null", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub enabled: Option<bool>,
    /// Whether missed ticks are caught up (the most recent one).
    #[serde(default, deserialize_with = "not_null", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub catch_up: Option<bool>,
}

impl SchedulePatch {
    /// Whether it changes nothing (the API refuses it: the document says `minProperties: 1`).
    pub fn is_empty(&self) -> bool {
        *self == SchedulePatch::default()
    }
}

fn schedule_name_schema() -> utoipa::openapi::Object {
    let text = "Its name: 1–64 of `A-Z a-z 0-9 _ . -`, starting with a letter or digit.";
    crate::validate::described(crate::validate::name_schema(), text)
}

/// A schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScheduleView {
    /// Its name.
    pub name: String,
    /// Its cron expression.
    pub cron: String,
    /// The time zone the expression is read in.
    pub timezone: String,
    /// The job each tick submits.
    pub job: JobRequest,
    /// Whether it makes jobs (false: paused).
    pub enabled: bool,
    /// Whether the most recent missed tick is made when a host starts.
    pub catch_up: bool,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When its latest tick was handled (`null` before any).
    pub last_run_at: Option<String>,
    /// The job its latest tick made (`null` before any, or when that tick failed).
    pub last_job_id: Option<i64>,
    /// Why its latest tick made no job (its module was deleted, its lane is served by no
    /// live host, …).
    #[serde(default)]
    pub last_error: Option<String>,
    /// Ticks never made because the hosts could not keep up (too many schedules, or a
    /// stalled host): each is also counted by `wasmpool_schedule_ticks_skipped_total`.
    #[serde(default)]
    pub ticks_skipped: u64,
    /// Its next tick (`null` while paused).
    pub next_run_at: Option<String>,
}

/// Every schedule, by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScheduleList {
    /// The schedules.
    pub schedules: Vec<ScheduleView>,
}
