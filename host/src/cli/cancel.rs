//! `wasmpool cancel`: like `terminate()`: a queued job never starts, a running job's worker
//! is killed. A job that has already ended is left alone unless `--delete` asks to remove it.
//! With filters instead of an id, every queued or running job they select is cancelled.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::exit;
use super::filters::{self, FilterArgs};
use super::remote::RemoteOptions;
use crate::client::ClientError;

/// Cancel a queued or running job (prints `ID cancelled`). A job that has already ended is
/// kept and the command exits 1, saying so; with --delete it is removed instead (prints
/// `ID deleted`), and a job still queued or running is cancelled, then removed. With
/// filters instead of an id, cancels every queued or running job they select (prints
/// `cancelled N of M matching jobs`; the ended ones among them are left alone).
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool cancel 42
  wasmpool cancel --delete 42      (remove the job and its output, ended or not)
  wasmpool cancel --state queued --module fib")]
pub struct CancelCommand {
    #[command(flatten)]
    pub(super) remote: RemoteOptions,
    /// Remove the job from the service, cancelling it first if it has not ended.
    #[arg(long, conflicts_with = "filters")]
    delete: bool,
    #[command(flatten)]
    filters: FilterArgs,
    /// The job's id (or filters instead, to cancel many).
    #[arg(conflicts_with = "filters")]
    id: Option<i64>,
}

impl CancelCommand {
    /// Cancels (or deletes) the job and says what happened.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        filters::require_id_or_filters(self.id, &self.filters, "cancel")?;
        self.remote.run(async |client| {
            let Some(id) = self.id else {
                let done = client.cancel_matching(&self.filters.selector()).await?;
                if !self.remote.print_json(&done)? {
                    println!("{}", filters::summary("cancelled", done.matched, done.changed));
                }
                return Ok(ExitCode::SUCCESS);
            };
            if self.delete {
                // A job still queued or running is cancelled by the first call and, ended
                // now, removed by the second.
                if client.cancel_or_delete(id).await?.is_some() {
                    client.cancel_or_delete(id).await?;
                }
                if !self.remote.print_json(&json!({ "id": id, "deleted": true }))? {
                    println!("{id} deleted");
                }
                return Ok(ExitCode::SUCCESS);
            }
            match client.cancel(id).await {
                Ok(job) => {
                    if !self.remote.print_json(&job)? {
                        println!("{} {}", job.id, job.state);
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(ClientError::Api { status: 409, .. }) => {
                    let job = client.job(id).await?;
                    eprintln!(
                        "wasmpool: job {id} has already ended ({}); it is kept \
                         (`wasmpool cancel --delete {id}` removes it)",
                        job.state
                    );
                    Ok(ExitCode::from(exit::API_ERROR))
                }
                Err(error) => Err(error.into()),
            }
        })
    }
}
