//! `wasmpool cancel`: like `terminate()`: a queued job never starts, a running job's worker
//! is killed; a job that has already ended is deleted instead.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::remote::RemoteOptions;

/// Cancel a queued or running job (prints `ID cancelled`), or delete one that has ended
/// (prints `ID deleted`).
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool cancel 42")]
pub struct CancelCommand {
    #[command(flatten)]
    remote: RemoteOptions,
    /// The job's id.
    id: i64,
}

impl CancelCommand {
    /// Cancels or deletes the job and says which.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        self.remote.run(async |client| {
            let job = client.cancel_or_delete(self.id).await?;
            let printed = match &job {
                Some(job) => self.remote.print_json(job)?,
                None => self.remote.print_json(&json!({ "id": self.id, "deleted": true }))?,
            };
            match job {
                _ if printed => {}
                // The state as the service tells it: the job may have ended before the cancel.
                Some(job) => println!("{} {}", job.id, job.state),
                None => println!("{} deleted", self.id),
            }
            Ok(ExitCode::SUCCESS)
        })
    }
}
