//! The command line: one file per verb, each a clap struct with an `execute` that calls
//! the library. Nothing here runs jobs itself.

mod local;
mod map;
mod options;
mod run;
mod worker;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A job pool for WebAssembly: runs WASI programs on sandboxed worker processes.
#[derive(Debug, Parser)]
#[command(name = "wasmpool", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one job in a sandboxed worker process and exit with its exit code.
    Run(run::RunCommand),
    /// Run one job per argument on a local pool of worker processes.
    Map(map::MapCommand),
    /// Internal: the worker process the pool starts (not for direct use).
    #[command(hide = true)]
    Worker(worker::WorkerCommand),
}

impl Cli {
    /// Runs the chosen verb and returns the process exit code.
    pub fn execute(self) -> ExitCode {
        let result = match self.command {
            Command::Run(command) => command.execute(),
            Command::Map(command) => command.execute(),
            Command::Worker(command) => command.execute(),
        };
        result.unwrap_or_else(|error| {
            eprintln!("wasmpool: {error:#}");
            ExitCode::from(exit::HOST_ERROR)
        })
    }
}

/// Exit codes of `wasmpool run` when the guest did not exit by itself.
pub mod exit {
    /// wasmpool itself failed: bad module, bad option, worker died.
    pub const HOST_ERROR: u8 = 125;
    /// The job ran past its timeout (as `timeout(1)`).
    pub const TIMED_OUT: u8 = 124;
    /// The guest trapped or hit its memory or fuel limit (as an abort).
    pub const TRAPPED: u8 = 134;
    /// The job was cancelled.
    pub const CANCELLED: u8 = 130;
}

/// Sets up logging to stderr; `RUST_LOG` overrides the default of warnings only.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        super::Cli::command().debug_assert();
    }
}
