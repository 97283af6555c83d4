//! `wasmpool cancel`: like `terminate()`: a queued job never starts, a running job's worker
//! is killed. A job that has already ended is left alone unless `--delete` asks to remove it.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::exit;
use super::remote::RemoteOptions;
use crate::client::ClientError;

/// Cancel a queued or running job (prints `ID cancelled`). A job that has already ended is
/// kept and the command exits 1, saying so; with --delete it is removed instead (prints
/// `ID deleted`), and a job still queued or running is cancelled, then removed.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool cancel 42
  wasmpool cancel --delete 42      (remove the job and its output, ended or not)")]
pub struct CancelCommand {
    #[command(flatten)]
    pub(super) remote: RemoteOptions,
    /// Remove the job from the service, cancelling it first if it has not ended.
    #[arg(long)]
    delete: bool,
    /// The job's id.
    id: i64,
}

impl CancelCommand {
    /// Cancels (or deletes) the job and says what happened.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        self.remote.run(async |client| {
            let id = self.id;
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
