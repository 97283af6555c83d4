//! `wasmpool retry`: queues an ended job (failed, timed out or cancelled) again, or every
//! such job a filter selects.

use std::process::ExitCode;

use clap::Args;

use super::filters::{self, FilterArgs};
use super::remote::RemoteOptions;

/// Queue a failed, timed-out or cancelled job again and print its id; or, with filters
/// instead of an id, every such job they select (prints `retried N of M matching jobs`).
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool retry 42 && wasmpool wait 42
  wasmpool retry --state failed --module fib
  wasmpool retry --state timed_out --submitted-after 2025-01-02T00:00:00Z")]
pub struct RetryCommand {
    #[command(flatten)]
    pub(super) remote: RemoteOptions,
    #[command(flatten)]
    filters: FilterArgs,
    /// The job's id (or filters instead, to retry many).
    #[arg(conflicts_with = "filters")]
    id: Option<i64>,
}

impl RetryCommand {
    /// Asks for the retry and prints the job id, or how many jobs were retried.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        filters::require_id_or_filters(self.id, &self.filters, "retry")?;
        self.remote.run(async |client| {
            let Some(id) = self.id else {
                let done = client.retry_matching(&self.filters.selector()).await?;
                if !self.remote.print_json(&done)? {
                    println!("{}", filters::summary("retried", done.matched, done.changed));
                }
                return Ok(ExitCode::SUCCESS);
            };
            let accepted = client.retry(id).await?;
            if !self.remote.print_json(&accepted)? {
                println!("{}", accepted.id);
            }
            Ok(ExitCode::SUCCESS)
        })
    }
}
