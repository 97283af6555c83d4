//! The job filters `jobs`, `retry` and `cancel` share: the list's query and the bulk
//! actions' body (`--state failed --module fib`).

use std::time::SystemTime;

use clap::Args;
use clap::builder::TypedValueParser;

use crate::job::JobState;
use crate::wire::JobSelector;

/// Which jobs: every option given narrows the selection.
#[derive(Debug, Clone, Default, Args)]
#[group(id = "filters", multiple = true)]
pub struct FilterArgs {
    /// Only jobs in this state (waiting, queued, running, succeeded, failed, timed_out,
    /// cancelled, skipped).
    #[arg(long, value_name = "STATE", value_parser = state_parser(), hide_possible_values = true)]
    state: Option<JobState>,
    /// Only jobs of this module (hash or name).
    #[arg(long, value_name = "MODULE")]
    module: Option<String>,
    /// Only jobs of this lane.
    #[arg(long, value_name = "LANE")]
    lane: Option<String>,
    /// Only jobs whose current or last attempt ran on this host.
    #[arg(long, value_name = "HOST")]
    node: Option<String>,
    /// Only jobs made by this schedule.
    #[arg(long, value_name = "NAME")]
    schedule: Option<String>,
    /// Only jobs whose name contains this text (case-sensitive).
    #[arg(long, value_name = "TEXT")]
    name: Option<String>,
    /// Only the job with this id (digits), or jobs whose name contains this text.
    #[arg(long, short = 'q', value_name = "TEXT")]
    search: Option<String>,
    /// Only jobs submitted at or after this time: RFC 3339 (2025-01-02T03:04:05Z), or that
    /// long ago (30m, 1h, 2d).
    #[arg(long, visible_alias = "since", value_name = "TIME", value_parser = time)]
    submitted_after: Option<String>,
    /// Only jobs submitted before this time: RFC 3339, or that long ago (1h).
    #[arg(long, value_name = "TIME", value_parser = time)]
    submitted_before: Option<String>,
}

impl FilterArgs {
    /// The filter as the API takes it.
    pub fn selector(&self) -> JobSelector {
        JobSelector {
            state: self.state,
            module: self.module.clone(),
            lane: self.lane.clone(),
            node: self.node.clone(),
            schedule: self.schedule.clone(),
            name: self.name.clone(),
            q: self.search.clone(),
            submitted_after: self.submitted_after.clone(),
            submitted_before: self.submitted_before.clone(),
            dry_run: false,
        }
    }
}

/// `retry`/`cancel` with neither an id nor a filter: a usage error that names both forms
/// (clap alone would say only that `<ID>` is missing).
pub fn require_id_or_filters(
    id: Option<i64>,
    filters: &FilterArgs,
    verb: &str,
) -> Result<(), super::UsageError> {
    if id.is_some() || filters.selector() != JobSelector::default() {
        return Ok(());
    }
    Err(super::UsageError(format!(
        "give a job's ID (`wasmpool {verb} 42`), or filters to {verb} every job they select \
         (`wasmpool {verb} --state failed --module fib`; see `wasmpool {verb} --help`)"
    )))
}

/// The states as clap's possible values, so shell completion offers them after `--state`.
fn state_parser() -> impl TypedValueParser<Value = JobState> {
    clap::builder::PossibleValuesParser::new(JobState::ALL.map(JobState::as_str))
        .map(|state| state.parse::<JobState>().expect("one of JobState::ALL"))
}

/// A time filter's value as the API takes it: a relative one (`1h`: a number and a unit, as
/// `--timeout` takes) becomes the RFC 3339 time that long before now; anything else goes as
/// given, for the service to check.
fn time(text: &str) -> Result<String, String> {
    let relative = text.starts_with(|c: char| c.is_ascii_digit())
        && text.ends_with(|c: char| c.is_ascii_alphabetic())
        && !text.contains(['-', ':']);
    if !relative {
        return Ok(text.to_string());
    }
    let ago = crate::units::parse_duration(text)?;
    let at = SystemTime::now()
        .checked_sub(ago)
        .ok_or_else(|| format!("`{text}` ago is before the clock's start"))?;
    Ok(humantime::format_rfc3339_micros(at).to_string())
}

/// `retried 12 of 12 matching jobs`: what a bulk action did, in words.
pub fn summary(verb: &str, matched: u64, changed: u64) -> String {
    let jobs = if matched == 1 { "job" } else { "jobs" };
    format!("{verb} {changed} of {matched} matching {jobs}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn relative_times_become_rfc3339_and_others_pass_as_given() {
        let hour_ago = super::time("1h").unwrap();
        let parsed = humantime::parse_rfc3339(&hour_ago).unwrap();
        let ago = std::time::SystemTime::now().duration_since(parsed).unwrap();
        assert!(ago.as_secs() >= 3600 && ago.as_secs() < 3700, "{hour_ago}");
        assert_eq!(super::time("2025-01-02T03:04:05Z").unwrap(), "2025-01-02T03:04:05Z");
        assert!(super::time("1y").unwrap_err().contains("unit"));
    }

    #[test]
    fn summaries() {
        assert_eq!(super::summary("retried", 12, 12), "retried 12 of 12 matching jobs");
        assert_eq!(super::summary("cancelled", 1, 0), "cancelled 0 of 1 matching job");
    }
}
