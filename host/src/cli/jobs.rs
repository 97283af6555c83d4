//! `wasmpool jobs`: a page of a running service's jobs, newest first.

use std::process::ExitCode;
use std::time::SystemTime;

use clap::Args;

use super::filters::FilterArgs;
use super::remote::{
    RemoteOptions, ago, between, or_dash, parse_time, short_hash, state_text, table,
};
use crate::client::JobFilter;
use crate::job::JobState;
use crate::units::format_duration;
use crate::wire::{JobPage, JobSummary};

/// List jobs, newest first, one page at a time; the last line names the next page's cursor
/// when there is one.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool jobs --state failed
  wasmpool jobs --module fib --limit 20
  wasmpool jobs --schedule nightly
  wasmpool jobs --state failed --lane slow --submitted-after 2025-01-02T00:00:00Z
  wasmpool jobs -q nightly          (jobs named *nightly*, or job 42 with -q 42)
  wasmpool jobs --cursor 1234      (the next page, as the previous one's last line says)
  wasmpool jobs --watch --state running    (drawn again as jobs change; ctrl-c ends it)")]
pub struct JobsCommand {
    #[command(flatten)]
    pub(super) remote: RemoteOptions,
    #[command(flatten)]
    filters: FilterArgs,
    /// At most this many jobs.
    #[arg(long, value_name = "N")]
    limit: Option<u32>,
    /// Start after the job this cursor (from a previous page) names.
    #[arg(long, value_name = "CURSOR")]
    cursor: Option<String>,
    /// Draw the list again whenever jobs change, until interrupted (on a terminal, in place).
    #[arg(long, short = 'w', conflicts_with = "json")]
    watch: bool,
}

impl JobsCommand {
    /// Fetches one page and prints it.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let filter = JobFilter {
            select: self.filters.selector(),
            limit: self.limit,
            cursor: self.cursor.clone(),
        };
        self.remote.run(async |client| {
            if self.watch {
                let draw = async |client: &crate::client::Client| {
                    Ok(render(&client.jobs(&filter).await?, SystemTime::now()))
                };
                return super::watch::watch(&client, draw).await;
            }
            let page = client.jobs(&filter).await?;
            if !self.remote.print_json(&page)? {
                print!("{}", render(&page, SystemTime::now()));
            }
            Ok(ExitCode::SUCCESS)
        })
    }
}

fn render(page: &JobPage, now: SystemTime) -> String {
    let header = ["ID", "STATE", "MODULE", "NAME", "EXIT", "DURATION", "SUBMITTED", "ERROR"];
    let mut rows = vec![header.map(String::from).to_vec()];
    rows.extend(page.jobs.iter().map(|job| row(job, now)));
    let mut text = table(&rows);
    if let Some(cursor) = &page.next_cursor {
        text.push_str(&format!("next: --cursor {cursor}\n"));
    }
    text
}

fn row(job: &JobSummary, now: SystemTime) -> Vec<String> {
    vec![
        job.id.to_string(),
        state_text(job.state, job.run_at.as_deref(), now),
        // The name the job was submitted by says more than a hash.
        job.module_name.clone().unwrap_or_else(|| short_hash(&job.module).to_string()),
        or_dash(job.name.as_ref()),
        or_dash(job.exit_code),
        or_dash(duration(job, now).map(format_duration)),
        ago(&job.submitted_at, now),
        reason(job.error.as_deref()),
    ]
}

/// Longest failure reason a row shows (`status ID` has the whole of it).
const REASON_CHARS: usize = 60;

/// Why a job did not succeed, on one line and cut to fit, or `-`.
fn reason(error: Option<&str>) -> String {
    let Some(error) = error else { return "-".to_string() };
    let line: String = error.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= REASON_CHARS {
        return line;
    }
    let cut: String = line.chars().take(REASON_CHARS - 1).collect();
    format!("{cut}…")
}

/// How long the job ran, or has been running so far.
fn duration(job: &JobSummary, now: SystemTime) -> Option<std::time::Duration> {
    match job.state {
        JobState::Running => now.duration_since(parse_time(job.started_at.as_deref()?)?).ok(),
        _ => between(job.started_at.as_deref(), job.finished_at.as_deref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(
        id: i64,
        state: JobState,
        exit_code: Option<i32>,
        times: [Option<&str>; 2],
    ) -> JobSummary {
        JobSummary {
            id,
            name: (id == 7).then(|| "nightly".into()),
            module: "3f2a9c1b8e7d".repeat(5),
            module_name: (id == 3).then(|| "fib".into()),
            args_preview: String::new(),
            priority: 0,
            state,
            attempts: 1,
            max_attempts: 1,
            timeout_ms: 1000,
            submitted_at: "2025-01-02T03:04:00Z".into(),
            run_at: None,
            started_at: times[0].map(str::to_string),
            finished_at: times[1].map(str::to_string),
            worker_pid: None,
            exit_code,
            stdout_bytes: 0,
            stderr_bytes: 0,
            stdout_truncated: false,
            stderr_truncated: false,
            error: (id == 12).then(|| format!("worker crashed:\n{}", "x".repeat(80))),
            progress: None,
            node: None,
            schedule: None,
            scheduled_for: None,
            lane: "default".into(),
            call: None,
            workflow: None,
        }
    }

    #[test]
    fn page_as_a_table_with_the_next_cursor() {
        let now = parse_time("2025-01-02T03:04:10Z").expect("valid");
        let started = Some("2025-01-02T03:04:01Z");
        let page = JobPage {
            jobs: vec![
                job(12, JobState::Running, None, [started, None]),
                job(7, JobState::Succeeded, Some(0), [started, Some("2025-01-02T03:04:01.25Z")]),
                job(3, JobState::Queued, None, [None, None]),
            ],
            next_cursor: Some("3".into()),
        };
        assert_eq!(
            render(&page, now),
            format!(
                "ID  STATE      MODULE        NAME     EXIT  DURATION  SUBMITTED  ERROR
12  running    3f2a9c1b8e7d  -        -     9s        10s ago    worker crashed: {}…
7   succeeded  3f2a9c1b8e7d  nightly  0     250ms     10s ago    -
3   queued     fib           -        -     -         10s ago    -
next: --cursor 3
",
                "x".repeat(43)
            )
        );
    }
}
