//! `wasmpool retry`: queues an ended job (failed, timed out or cancelled) again.

use std::process::ExitCode;

use clap::Args;

use super::remote::RemoteOptions;

/// Queue a failed, timed-out or cancelled job again and print its id.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasmpool retry 42 && wasmpool wait 42")]
pub struct RetryCommand {
    #[command(flatten)]
    pub(super) remote: RemoteOptions,
    /// The job's id.
    id: i64,
}

impl RetryCommand {
    /// Asks for the retry and prints the job id.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        self.remote.run(async |client| {
            let accepted = client.retry(self.id).await?;
            if !self.remote.print_json(&accepted)? {
                println!("{}", accepted.id);
            }
            Ok(ExitCode::SUCCESS)
        })
    }
}
