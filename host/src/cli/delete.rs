//! `wasmpool delete`: removes ended jobs (their output and attempt history with them), one by
//! id or every one a filter selects. Queued and running jobs are never deleted here: cancel
//! them first.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::exit;
use super::filters::FilterArgs;
use super::remote::RemoteOptions;

/// Delete an ended job (prints `ID deleted`), or, with filters instead of an id, every ended
/// job they select (prints `deleted N of M matching jobs`; queued and running ones among them
/// are left alone). A job that has not ended is kept and the command exits 1, saying so.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool delete 42
  wasmpool delete --state failed --module fib
  wasmpool delete --state succeeded --submitted-before 7d --dry-run")]
pub struct DeleteCommand {
    #[command(flatten)]
    pub(super) remote: RemoteOptions,
    #[command(flatten)]
    filters: FilterArgs,
    /// Delete nothing: print how many jobs the filters select.
    #[arg(long, requires = "filters")]
    dry_run: bool,
    /// The job's id (or filters instead, to delete many).
    #[arg(conflicts_with = "filters", required_unless_present = "filters")]
    id: Option<i64>,
}

impl DeleteCommand {
    /// Deletes the job or jobs and says what happened.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        self.remote.run(async |client| {
            let Some(id) = self.id else {
                let mut selector = self.filters.selector();
                selector.dry_run = self.dry_run;
                let done = client.delete_matching(&selector).await?;
                if !self.remote.print_json(&done)? {
                    let jobs = if done.matched == 1 { "job" } else { "jobs" };
                    if self.dry_run {
                        let n = (done.deleted, done.matched);
                        println!(
                            "would delete {} of {} matching {jobs} (nothing deleted)",
                            n.0, n.1
                        );
                    } else {
                        println!("deleted {} of {} matching {jobs}", done.deleted, done.matched);
                    }
                }
                return Ok(ExitCode::SUCCESS);
            };
            let job = client.job(id).await?;
            if !job.state.is_terminal() {
                eprintln!(
                    "wasmpool: job {id} is {} and has not ended; it is kept \
                     (`wasmpool cancel {id}` stops it first)",
                    job.state
                );
                return Ok(ExitCode::from(exit::API_ERROR));
            }
            // Ended jobs stay ended unless retried: this removes it, never cancels it.
            client.cancel_or_delete(id).await?;
            if !self.remote.print_json(&json!({ "id": id, "deleted": true }))? {
                println!("{id} deleted");
            }
            Ok(ExitCode::SUCCESS)
        })
    }
}
