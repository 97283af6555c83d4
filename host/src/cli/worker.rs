//! `wasmpool worker`: the hidden verb a pool starts its worker processes with.

use std::process::ExitCode;

use clap::Args;

/// Internal: runs the worker loop on stdin/stdout. Started by the pool, never by hand.
#[derive(Debug, Args)]
pub struct WorkerCommand {
    /// Pid of the supervising host; the worker dies with it.
    #[arg(long)]
    parent_pid: u32,
}

impl WorkerCommand {
    /// Runs the worker until the supervisor closes its channel.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        crate::worker::main(self.parent_pid)?;
        Ok(ExitCode::SUCCESS)
    }
}
